"""The three pages driven by a real browser: questionnaire, report form, moderation queue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ADMIN_TOKEN, CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=(
    "browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)"))
pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")

ANSWERS = {"operator.legal_name": "Acme Ltd", "operator.contact_email": "legal@acme.example",
           "operator.address": "1 Example Street, Dublin", "product.name": "Acme Chat",
           "product.url": "https://acme.example", "product.governing_law": "Ireland"}


def test_questionnaire_preview_and_download(page: Any, live_server: str, shots: Path) -> None:
    page.goto(f"{live_server}/questionnaire")
    page.screenshot(path=shots / "questionnaire.png")
    for name, value in ANSWERS.items():
        page.fill(f'[name="{name}"]', value)
    page.check('[name="jurisdictions"][value="EU"]')
    page.check('[name="modalities.outputs"][value="image"]')
    page.fill('[name="models.0.name"]', "Stable Diffusion 1.5")
    page.select_option('[name="models.0.license"]', "creativeml-openrail-m")
    page.click("text=Preview documents")
    frame = page.frame_locator("iframe.document").first
    assert "Terms of Use" in frame.locator("h1").inner_text()
    assert page.locator("iframe.document").count() == 6
    assert page.locator("iframe.document").first.get_attribute("sandbox") == ""
    assert page.input_value('[name="product.name"]') == "Acme Chat"  # answers survive the preview
    page.screenshot(path=shots / "questionnaire-preview.png", full_page=False)
    page.on("response", lambda r: print("RESP", r.status, r.url))
    page.on("download", lambda d: print("DL", d.suggested_filename))
    button = page.locator("text=Download all files (.zip)")
    button.scroll_into_view_if_needed()  # clicking it unscrolled misses it with the preview frames above
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename == "acme-chat-legal.zip"


def test_questionnaire_errors_stand_next_to_their_fields(page: Any, live_server: str, shots: Path) -> None:
    page.goto(f"{live_server}/questionnaire")
    page.fill('[name="product.url"]', "acme.example")
    page.click("text=Preview documents")
    field = page.locator("#field-q-product-url")
    assert "product.url:" in field.locator(".error").inner_text()
    assert page.locator(".summary li").count() >= 7  # every unanswered required question is named
    page.screenshot(path=shots / "questionnaire-errors.png")


def test_report_then_moderate_and_read_the_statement(page: Any, live_server: str, shots: Path) -> None:
    page.goto(f"{live_server}/report")
    page.screenshot(path=shots / "report-choose.png")
    page.click("text=Illegal content")
    page.click("text=Send report")
    assert page.locator(".summary").is_visible()
    page.screenshot(path=shots / "report-errors.png", full_page=True)
    page.fill('[name="explanation"]', 'It defames me: <script>alert("x")</script>')
    page.fill('[name="urls"]', "https://acme.example/p/1")
    page.fill('[name="notifier_name"]', "Ann O'Neil")
    page.fill('[name="notifier_email"]', "ann@example.org")
    page.check('[name="good_faith_statement"]')
    page.click("text=Send report")
    reference = page.locator("code.reference").inner_text()
    assert re.fullmatch(r"DSA-[A-Z0-9]{10}", reference)
    page.screenshot(path=shots / "report-ack.png")

    page.goto(f"{live_server}/moderation")
    assert page.url.endswith("/moderation/login")
    page.screenshot(path=shots / "moderation-login.png")
    page.fill('[name="token"]', ADMIN_TOKEN)
    page.click("text=Sign in")
    assert page.url.endswith("/moderation")
    cookie = next(c for c in page.context.cookies() if c["name"] == "cg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ADMIN_TOKEN not in cookie["value"]
    assert ADMIN_TOKEN not in page.content()
    page.screenshot(path=shots / "moderation-queue.png")

    page.click(f"text={reference}")
    assert 'It defames me: <script>alert("x")</script>' in page.locator("main").inner_text()
    page.select_option('[name="restriction"]', "removal")
    page.fill('[name="facts"]', "The post repeats a false claim about the notifier.")
    page.fill('[name="territorial_scope"]', "worldwide")
    page.fill('[name="duration"]', "indefinite")
    page.fill('[name="explanation"]', "It states as fact a claim about the notifier that is false.")
    page.check('[name="automated_detection"]')
    page.select_option('[name="clause_id"]', index=1)
    page.screenshot(path=shots / "moderation-notice.png", full_page=True)
    page.click("text=Decide and issue the statement of reasons")
    statement = page.locator("section.statement").inner_text()
    assert "Statement of reasons" in statement and "section " in statement and "DSA Art. 20" in statement
    page.screenshot(path=shots / "moderation-statement.png", full_page=True)
