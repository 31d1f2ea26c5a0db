"""The server-rendered pages: questionnaire, report form, moderation queue (in-process, no browser)."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clauseguard.generator.build import render_outputs
from clauseguard.generator.profile import load_profile, parse_profile
from clauseguard.generator.questionnaire import QUESTIONS
from clauseguard.guards.server import pages
from clauseguard.guards.server.tokens import Role
from tests.server.conftest import ADMIN_TOKEN, ROOT

EXAMPLE = ROOT / "examples" / "chat-assistant" / "profile.yaml"
HOSTILE = '<script>alert("x")</script>\'"'

ANSWERS: dict[str, Any] = {
    "operator.legal_name": "Acme Ltd", "operator.contact_email": "legal@acme.example",
    "operator.address": "1 Example Street, Dublin", "product.name": "Acme Chat",
    "product.url": "https://acme.example", "product.interfaces": ["web", "api"],
    "product.effective_date": "2026-12-01", "product.governing_law": "Ireland", "jurisdictions": ["EU", "US"],
    "modalities.inputs": ["text"], "modalities.outputs": ["text", "image"], "audience.minimum_age": "18",
    "audience.consumer": "yes", "user_content.uploads": "yes", "user_content.public_sharing": "no",
    "operator.dmca_agent.name": "Jo Agent", "models.0.name": "Llama 3.1 8B", "models.0.license": "llama3.1",
}

NOTICES: dict[str, dict[str, Any]] = {
    "dsa": {"explanation": "It defames me.", "urls": "https://acme.example/p/1\nhttps://acme.example/p/2",
            "notifier_name": "Ann", "notifier_email": "ann@example.org", "good_faith_statement": "yes"},
    "dmca": {"signature": "Bob Owner", "copyrighted_work": "My photo", "infringing_material": "A copy",
             "urls": "https://acme.example/i/9", "contact.name": "Bob Owner", "contact.email": "bob@example.org",
             "good_faith_statement": "yes", "accuracy_statement": "yes",
             "authority_under_penalty_of_perjury": "yes"},
    "take_it_down": {"signature": "Cat", "depiction": "A photo of me", "urls": "https://acme.example/i/3",
                     "non_consent_statement": "yes", "contact.name": "Cat", "contact.phone": "+1 555 0100"},
}


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    files = render_outputs(load_profile(EXAMPLE), formats=("md",))
    (folder / "report.json").write_bytes(files["report.json"])
    return folder / "report.json"


@pytest.fixture
def app(make_app: Callable[..., FastAPI], report_path: Path) -> FastAPI:
    application = make_app(report_path=report_path)
    return application


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def errors(html: str) -> list[str]:
    return re.findall(r'<p class="error" role="alert">([^<]*)</p>', html)


def login(client: TestClient, token: str = ADMIN_TOKEN) -> Any:
    return client.post("/moderation/login", data={"token": token, "csrf_token": csrf(client, "/moderation/login")})


def file_report(client: TestClient, regime: str, **changes: str) -> Any:
    data = {**NOTICES[regime], **changes, "regime": regime, "csrf_token": csrf(client, f"/report?regime={regime}")}
    return client.post("/report", data=data)


# ---- every page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/questionnaire", "/report", "/report?regime=dsa", "/report?regime=dmca",
                                  "/report?regime=take_it_down", "/moderation/login"])
def test_pages_carry_no_script_and_strict_headers(web: TestClient, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 200
    assert "<script" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_stylesheet_is_served_and_nothing_else(web: TestClient) -> None:
    assert web.get("/static/pages.css").headers["content-type"].startswith("text/css")
    assert web.get("/static/..%2Fpages.py").status_code == 404


# ---- questionnaire ---------------------------------------------------------------------------------------


def test_questionnaire_has_a_field_for_every_question(web: TestClient) -> None:
    html = web.get("/questionnaire").text
    missing = [q.key for q in QUESTIONS if q.kind != "models" and f'name="{q.key}"' not in html]
    assert missing == []
    assert 'name="models.0.license"' in html
    assert all(q.prompt.replace("'", "&#39;") in html for q in QUESTIONS)


def test_preview_shows_every_document_in_a_sandboxed_frame(web: TestClient) -> None:
    response = web.post("/questionnaire/preview", data={**ANSWERS, "csrf_token": csrf(web, "/questionnaire")})
    assert response.status_code == 200, errors(response.text)
    frames = re.findall(r"<iframe ([^>]*)>", response.text)
    assert len(frames) == 6
    assert all('sandbox=""' in f and "srcdoc=" in f for f in frames)
    assert "Acme Chat" in response.text and "&lt;h1" in response.text  # the document's HTML, escaped once


@pytest.mark.parametrize(("changes", "key_path"), [
    ({"operator.contact_email": "nope"}, "operator.contact_email"),
    ({"operator.contact_email": HOSTILE}, "operator.contact_email"),
    ({"jurisdictions": []}, "jurisdictions"),
    ({"product.name": ""}, "product.name"),
    ({"audience.minimum_age": "30"}, "audience.minimum_age"),
    ({"product.effective_date": "tomorrow"}, "product.effective_date"),
    ({"models.0.license": "other"}, "models.0"),
    ({"operator.dmca_agent.email": "agent@example.org", "operator.dmca_agent.name": "",
      "user_content.uploads": "no"}, "operator.dmca_agent.name"),
])
def test_preview_names_the_key_path_of_each_error(web: TestClient, changes: dict[str, Any], key_path: str) -> None:
    response = web.post("/questionnaire/preview",
                        data={**ANSWERS, **changes, "csrf_token": csrf(web, "/questionnaire")})
    assert response.status_code == 422
    assert any(e.startswith(key_path) for e in errors(response.text)), errors(response.text)
    assert "<iframe" not in response.text and "<script>" not in response.text


def test_download_zips_every_output_and_the_profile(web: TestClient) -> None:
    response = web.post("/questionnaire/download", data={**ANSWERS, "csrf_token": csrf(web, "/questionnaire")})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="acme-chat-legal.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    report = json.loads(archive.read("report.json"))
    expected = {f"documents/{d['id']}.{fmt}" for d in report["documents"] for fmt in ("md", "html", "docx")}
    assert names == expected | {"guards.yaml", "report.json", "clauseguard.lock", "profile.yaml"}
    profile = parse_profile(archive.read("profile.yaml").decode())
    assert profile.sha256() == report["profile_sha256"]
    assert profile.operator.dmca_agent is not None and profile.operator.dmca_agent.email == "legal@acme.example"


def test_download_leaves_docx_out_when_python_docx_is_missing(web: TestClient,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "docx" else real(name, *a))
    response = web.post("/questionnaire/download", data={**ANSWERS, "csrf_token": csrf(web, "/questionnaire")})
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert response.status_code == 200 and not any(n.endswith(".docx") for n in names)
    assert "documents/terms-of-use.md" in names and "documents/terms-of-use.html" in names


# ---- CSRF ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/questionnaire/preview", "/questionnaire/download", "/report",
                                  "/moderation/login"])
@pytest.mark.parametrize("token", ["", "garbage", "1.2.3", "other-form"])
def test_posts_without_a_valid_csrf_token_are_refused(web: TestClient, path: str, token: str) -> None:
    if token == "other-form":  # a real token, made for another form
        token = csrf(web, "/report?regime=dsa" if path != "/report" else "/moderation/login")
    data = {**ANSWERS, **NOTICES["dsa"], "regime": "dsa", "token": ADMIN_TOKEN, "csrf_token": token}
    response = web.post(path, data=data)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_csrf_tokens_expire(web: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    token = csrf(web, "/report?regime=dsa")
    later = time.time() + pages.CSRF_TTL_S + 1
    monkeypatch.setattr(pages._signing.time, "time", lambda: later)
    data = {**NOTICES["dsa"], "regime": "dsa", "csrf_token": token}
    assert web.post("/report", data=data).status_code == 403


@pytest.mark.parametrize("path", ["/report", "/moderation/login", "/questionnaire/preview"])
@pytest.mark.parametrize("token", [f"{int(time.time())}.nonce.\u00e9", "\u00b2.nonce.mac", f"{'9' * 5000}.nonce.mac"])
def test_non_ascii_or_oversized_csrf_tokens_are_refused_not_crashed(app: FastAPI, path: str, token: str) -> None:
    """A token whose MAC held a non-ASCII letter made ``hmac.compare_digest(str, str)`` raise TypeError, and
    a stamp "²" (``str.isdigit`` is true, ``int`` raises) or of 5000 digits made ``int`` raise: a 500, not
    the 403 of any other bad token."""
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        response = client.post(path, data={**NOTICES["dsa"], "regime": "dsa", "token": "x", "csrf_token": token})
    assert response.status_code == 403


@pytest.mark.parametrize("cookie", [b"abc.\xe9", b"\xe9\xe9.\xe9"])
def test_non_ascii_session_cookie_redirects_to_login_not_crashes(app: FastAPI, cookie: bytes) -> None:
    """A session cookie with a non-ASCII byte reached ``hmac.compare_digest(str, str)``: TypeError, a 500."""
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        response = client.get("/moderation", headers=[(b"cookie", b"cg_session=" + cookie)])
    assert response.status_code == 303 and response.headers["location"] == "/moderation/login"


def test_questionnaire_renderings_are_throttled_per_client(make_app: Callable[..., FastAPI], report_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each preview or download renders every document (about half a second of a worker), and anyone could
    ask for them without limit. Valid answers now cost the client a token of its questionnaire bucket; then
    a 429 page with Retry-After, and nothing is rendered. Answers with errors cost nothing."""
    rendered: list[str] = []
    monkeypatch.setattr(pages.questionnaire, "_zip", lambda profile, data: rendered.append("zip") or b"PK")
    monkeypatch.setattr(pages.questionnaire, "_preview", lambda profile: rendered.append("preview") or [])
    app = make_app(report_path=report_path, questionnaire_burst=2, questionnaire_per_hour=60)
    with TestClient(app) as client:
        token = csrf(client, "/questionnaire")
        bad = [client.post("/questionnaire/preview", data={**ANSWERS, "product.url": "nope", "csrf_token": token})
               for _ in range(3)]
        answers = [client.post(path, data={**ANSWERS, "csrf_token": token})
                   for path in ("/questionnaire/preview", "/questionnaire/download", "/questionnaire/download")]
    assert {r.status_code for r in bad} == {422}
    assert [r.status_code for r in answers] == [200, 200, 429] and rendered == ["preview", "zip"]
    assert answers[-1].headers["retry-after"] == "60" and "wait 1 minute" in answers[-1].text


# ---- the report form -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("regime", "prefix", "legal"), [("dsa", "DSA-", False), ("dmca", "DMCA-", False),
                                                          ("take_it_down", "TID-", True)])
def test_report_is_acknowledged_with_reference_and_deadline(web: TestClient, app: FastAPI, regime: str,
                                                            prefix: str, legal: bool) -> None:
    response = file_report(web, regime)
    assert response.status_code == 201, errors(response.text)
    reference = re.search(r'<code class="reference">([A-Z0-9-]+)</code>', response.text).group(1)
    assert reference.startswith(prefix)
    assert "We will decide by" in response.text
    assert ("set by law" in response.text) is legal
    stored = pages.moderation._queue(app.state.clauseguard, "open")
    assert [n.reference for n in stored] == [reference]


def test_report_form_is_throttled_per_client_with_one_bucket_for_form_and_api(
        make_app: Callable[..., FastAPI], report_path: Path) -> None:
    """One CSRF token (valid for two hours) let one client file reports as fast as it liked. The form
    now shares the intake throttle of POST /v1/notices: a 429 page with Retry-After, nothing stored."""
    app = make_app(report_path=report_path, intake_burst=3)
    with TestClient(app, client=("198.51.100.9", 5000)) as client:
        token = csrf(client, "/report?regime=dsa")
        api = client.post("/v1/notices", json={**NOTICES["dsa"], "regime": "dsa", "urls": ["https://a.example/1"],
                                              "good_faith_statement": True})
        forms = [client.post("/report", data={**NOTICES["dsa"], "regime": "dsa", "csrf_token": token})
                 for _ in range(4)]
    assert api.status_code == 201
    assert [r.status_code for r in forms] == [201, 201, 429, 429]
    assert forms[-1].headers["retry-after"] == "120" and "not saved" in forms[-1].text
    assert len(pages.moderation._queue(app.state.clauseguard, "open")) == 3


@pytest.mark.parametrize(("regime", "changes", "key_paths"), [
    ("dsa", {"explanation": ""}, ["explanation"]),
    ("dsa", {"urls": "not a url"}, ["urls.0"]),
    ("dsa", {"good_faith_statement": ""}, ["good_faith_statement"]),
    ("dsa", {"notifier_name": "", "notifier_email": ""}, ["notifier_name", "notifier_email"]),
    ("dmca", {"contact.name": "", "contact.email": ""}, ["contact"]),
    ("dmca", {"contact.email": "", "contact.phone": ""}, ["contact"]),
    ("dmca", {"authority_under_penalty_of_perjury": ""}, ["authority_under_penalty_of_perjury"]),
    ("take_it_down", {"signature": "", "urls": ""}, ["signature", "urls"]),
    ("take_it_down", {"non_consent_statement": ""}, ["non_consent_statement"]),
])
def test_report_errors_name_the_missing_elements(web: TestClient, regime: str, changes: dict[str, str],
                                                 key_paths: list[str]) -> None:
    response = file_report(web, regime, **changes)
    assert response.status_code == 422
    shown = errors(response.text)
    assert all(any(e.startswith(f"{k}:") for e in shown) for k in key_paths), shown


def test_dsa_notice_about_child_sexual_abuse_needs_no_identity(web: TestClient) -> None:
    response = file_report(web, "dsa", notifier_name="", notifier_email="", concerns_child_sexual_abuse="yes")
    assert response.status_code == 201, errors(response.text)


# ---- moderation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("get", "/moderation"), ("get", "/moderation?status=actioned"),
                                              ("get", "/moderation/notices/DSA-ANY"),
                                              ("post", "/moderation/notices/DSA-ANY/decision")])
@pytest.mark.parametrize("cookie", [None, "forged.value", "eyJwIjoiZW52IiwiciI6ImFkbWluIn0.00"])
def test_without_a_valid_session_moderation_redirects_to_login(web: TestClient, method: str, path: str,
                                                               cookie: str | None) -> None:
    reference = re.search(r"[A-Z]+-[A-Z0-9]+", file_report(web, "dsa").text.split('class="reference">')[1]).group(0)
    if cookie:
        web.cookies.set(pages.SESSION_COOKIE, cookie, path="/moderation")
    response = getattr(web, method)(path.replace("DSA-ANY", reference))
    assert response.status_code == 303 and response.headers["location"] == "/moderation/login"
    assert reference not in response.text


@pytest.mark.parametrize("token", ["", "cg_abc_wrong", "x" * 40])
def test_wrong_token_gives_no_session(web: TestClient, token: str) -> None:
    response = login(web, token)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "not valid" in response.text


@pytest.mark.parametrize(("base_url", "secure"), [("http://testserver", False), ("https://testserver", True)])
def test_session_cookie_is_signed_httponly_strict(app: FastAPI, base_url: str, secure: bool) -> None:
    with TestClient(app, base_url=base_url, follow_redirects=False) as client:
        response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/moderation"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/moderation" in cookie
    assert ("Secure" in cookie) is secure
    assert ADMIN_TOKEN not in cookie


def test_queue_is_ordered_by_deadline_and_marks_overdue(web: TestClient, app: FastAPI) -> None:
    from clauseguard.guards.records.notices import file_notice

    state = app.state.clauseguard
    late = file_notice(state.records, {"regime": "dsa", "explanation": "old", "urls": ["https://a.example/o"],
                                       "notifier_name": "A", "notifier_email": "a@example.org",
                                       "good_faith_statement": True},
                       received_at=datetime.now(UTC) - timedelta(days=5))
    references = {regime: re.search(r'class="reference">([^<]+)<', file_report(web, regime).text).group(1)
                  for regime in ("dsa", "dmca", "take_it_down")}
    login(web)
    html = web.get("/moderation").text
    order = [late.reference, references["dmca"], references["take_it_down"], references["dsa"]]
    positions = [html.index(ref) for ref in order]
    assert positions == sorted(positions)
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<td>[^<]*(<strong class=\"badge\">overdue</strong>)?", html)
    assert [bool(a) for a, _ in rows] == [True, False, False, False]


def test_queue_page_says_how_many_and_links_to_the_rest_and_each_regime(
        web: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue page showed the 500 nearest deadlines and nothing else: with 500 fake TAKE IT DOWN
    notices (48 hours, so first) a real DSA notice was out of sight, with no note that more existed. It now
    says "Showing 1–N of M", links to the next page, and filters by regime."""
    from clauseguard.guards.records.notices import file_notice

    monkeypatch.setattr(pages.moderation, "PAGE_SIZE", 3)
    state = app.state.clauseguard
    real = file_notice(state.records, {"regime": "dsa", "explanation": "real", "urls": ["https://a.example/r"],
                                       "notifier_name": "A", "notifier_email": "a@example.org",
                                       "good_faith_statement": True}).reference
    for n in range(4):
        file_notice(state.records, {"regime": "take_it_down", "signature": "X", "depiction": "fake",
                                    "urls": [f"https://a.example/{n}"], "non_consent_statement": True,
                                    "contact": {"name": "X", "email": "x@example.org"}})
    login(web)
    first = web.get("/moderation").text
    assert "Showing 1–3 of 5 notices" in first and real not in first
    assert 'href="/moderation?status=open&amp;offset=3" rel="next">Later deadlines (2 more)' in first
    second = web.get("/moderation?status=open&offset=3").text
    assert "Showing 4–5 of 5 notices" in second and real in second
    assert 'href="/moderation?status=open&amp;offset=0" rel="prev"' in second
    dsa = web.get("/moderation?status=open&regime=dsa").text
    assert "Showing 1–1 of 1 notice," in dsa and real in dsa and 'rel="next"' not in dsa
    for junk in ("-1", "x", "\u00b2", "9" * 20):  # an offset that is no page: the first page
        assert "Showing 1–3 of 5" in web.get("/moderation", params={"offset": junk}).text


def test_hostile_notice_fields_are_escaped_everywhere(web: TestClient) -> None:
    url = 'https://acme.example/"><script>alert(1)</script>'
    ack = file_report(web, "dsa", explanation=HOSTILE, urls=url, notifier_name=HOSTILE)
    reference = re.search(r'class="reference">([^<]+)<', ack.text).group(1)
    login(web)
    for html in (web.get("/moderation").text, web.get(f"/moderation/notices/{reference}").text):
        assert "<script" not in html
        assert "&lt;script&gt;" in html and "&#34;" in html


def test_decision_issues_a_statement_of_reasons_citing_the_clause(web: TestClient, app: FastAPI,
                                                                  report_path: Path) -> None:
    reference = re.search(r'class="reference">([^<]+)<', file_report(web, "dmca").text).group(1)
    login(web)
    page_html = web.get(f"/moderation/notices/{reference}").text
    clause = json.loads(report_path.read_text())["clauses"][0]
    assert f'value="{clause["id"]}"' in page_html
    token = re.search(r'name="csrf_token" value="([^"]+)"', page_html.split('class="decision"')[1]).group(1)
    response = web.post(f"/moderation/notices/{reference}/decision", data={
        "csrf_token": token, "restriction": "removal", "facts": f"Copy of a photo {HOSTILE}",
        "automated_detection": "yes", "clause_id": clause["id"], "territorial_scope": "worldwide",
        "explanation": "It copies the notifier's photo.", "duration": "indefinite"})
    assert response.status_code == 303
    html = web.get(response.headers["location"]).text
    assert "Statement of reasons" in html and "<script" not in html and 'class="decision"' not in html
    section = clause["sections"].get("terms-of-use") or next(iter(clause["sections"].values()))
    assert f"section {section}" in html
    assert "detection: yes; decision: no" in html
    assert "counter-notification" in html  # the DMCA redress is added for DMCA notices
    assert pages.moderation._queue(app.state.clauseguard, "actioned")[0].reference == reference


@pytest.mark.parametrize(("fields", "key_path"), [
    ({"restriction": "removal", "facts": ""}, "facts"),
    ({"restriction": "", "facts": "x"}, "restriction"),
    ({"restriction": "teleport", "facts": "x"}, "restriction"),
    ({"restriction": "removal", "facts": "x"}, "legal_ground"),
    ({"restriction": "removal", "facts": "x", "clause_id": "no/such-clause"}, "clause_id"),
    # Art. 17(3)(a), (d)-(e): the form marked them optional, and the error named no field of the form
    ({"restriction": "removal", "facts": "x", "legal_ground": "defamation law", "duration": "indefinite",
      "explanation": "y"}, "territorial_scope"),
    ({"restriction": "removal", "facts": "x", "legal_ground": "defamation law", "territorial_scope": "EU",
      "explanation": "y"}, "duration"),
    ({"restriction": "removal", "facts": "x", "legal_ground": "defamation law", "territorial_scope": "EU",
      "duration": "indefinite"}, "explanation"),
])
def test_decision_errors_are_named_and_nothing_is_decided(web: TestClient, app: FastAPI, fields: dict[str, str],
                                                          key_path: str) -> None:
    reference = re.search(r'class="reference">([^<]+)<', file_report(web, "dsa").text).group(1)
    login(web)
    page_html = web.get(f"/moderation/notices/{reference}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)
    response = web.post(f"/moderation/notices/{reference}/decision", data={**fields, "csrf_token": token})
    assert response.status_code == 422
    assert any(e.startswith(f"{key_path}:") for e in errors(response.text)), errors(response.text)
    assert pages.moderation._queue(app.state.clauseguard, "open")[0].reference == reference


def test_decision_needs_the_csrf_token_of_this_session(web: TestClient, app: FastAPI) -> None:
    reference = re.search(r'class="reference">([^<]+)<', file_report(web, "dsa").text).group(1)
    login(web)
    stale = csrf(web, "/moderation")
    login(web)  # a new session: the old session's tokens no longer count
    response = web.post(f"/moderation/notices/{reference}/decision",
                        data={"restriction": "none", "facts": "fine", "csrf_token": stale})
    assert response.status_code == 403
    assert pages.moderation._queue(app.state.clauseguard, "open")[0].reference == reference


def test_revoked_token_ends_its_sessions_and_logout_clears_the_cookie(web: TestClient, app: FastAPI) -> None:
    tokens = app.state.clauseguard.tokens
    token, info = tokens.create(Role.MODERATOR, "tester")
    assert login(web, token).status_code == 303
    assert web.get("/moderation").status_code == 200
    response = web.post("/moderation/logout", data={"csrf_token": csrf(web, "/moderation")})
    assert response.status_code == 303 and 'cg_session=""' in response.headers["set-cookie"]
    web.cookies.clear()
    login(web, token)
    tokens.revoke(info.id)
    assert web.get("/moderation").status_code == 303


@pytest.mark.parametrize("token_kind", ["stored", "bootstrap"])
def test_signing_out_ends_the_session_for_a_copy_of_the_cookie_on_every_worker(
        make_app: Callable[..., FastAPI], db_url: str, token_kind: str) -> None:
    """Signing out only deleted the cookie in the browser: a copy of its value (taken from a shared
    computer, a proxy log) kept opening the moderation queue for the 8 hours it was signed for."""
    secret = "s" * 32
    first, second = make_app(session_secret=secret, db_url=db_url), make_app(session_secret=secret, db_url=db_url)
    token = first.state.clauseguard.tokens.create(Role.MODERATOR, "m")[0] if token_kind == "stored" else ADMIN_TOKEN
    with TestClient(first, follow_redirects=False) as one, TestClient(second, follow_redirects=False) as other:
        assert login(one, token).status_code == 303
        cookie = one.cookies["cg_session"]
        other.cookies.set("cg_session", cookie, path="/moderation")
        assert other.get("/moderation").status_code == 200
        response = one.post("/moderation/logout", data={"csrf_token": csrf(one, "/moderation")})
        assert response.status_code == 303 and 'cg_session=""' in response.headers["set-cookie"]
        one.cookies.set("cg_session", cookie, path="/moderation")  # the copy, sent again
        assert one.get("/moderation").status_code == 303
        assert other.get("/moderation").status_code == 303  # another worker refuses it too
        assert login(one, token).status_code == 303 and one.get("/moderation").status_code == 200  # a new one works


@pytest.mark.parametrize("rotated", ["another-bootstrap-token-0123456789", None])
def test_rotating_the_bootstrap_admin_token_ends_its_sessions(make_app: Callable[..., FastAPI], rotated: str | None
                                                              ) -> None:
    """A session signed in with CLAUSEGUARD_ADMIN_TOKEN (principal "env") was checked against nothing but
    its expiry: after the token leaked and was changed or removed (and the server restarted, sharing the
    session secret), the old session still opened the moderation queue for up to 8 hours."""
    secret = "s" * 32
    with TestClient(make_app(session_secret=secret), follow_redirects=False) as before:
        assert login(before).status_code == 303
        cookie = before.cookies["cg_session"]
    with TestClient(make_app(session_secret=secret), follow_redirects=False, cookies={"cg_session": cookie}) as same:
        assert same.get("/moderation").status_code == 200  # a restart alone keeps the session
    after = make_app(session_secret=secret, admin_token=rotated)
    with TestClient(after, follow_redirects=False, cookies={"cg_session": cookie}) as client:
        assert client.get("/moderation").status_code == 303


def test_sign_in_attempts_are_throttled_per_client(web: TestClient) -> None:
    statuses = [login(web, "wrong-token-0123456789").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert "Too many sign-in attempts" in login(web).text  # even the right token waits its turn


def test_sign_in_attempts_from_one_ipv6_64_are_throttled_together(make_app: Callable[..., FastAPI],
                                                                   report_path: Path) -> None:
    """A client given a /64 can take a new address in it for every attempt: the throttle counts the /64."""
    app = make_app(report_path=report_path, trusted_proxies=("10.0.0.0/8",))
    statuses = []
    with TestClient(app, follow_redirects=False, client=("10.0.0.5", 4321)) as client:
        for address in [f"2001:db8::{n + 1}" for n in range(6)] + ["2001:db8:0:1::1"]:  # the last: another /64
            client.headers["X-Forwarded-For"] = address
            statuses.append(login(client, "wrong-token-0123456789").status_code)
    assert statuses == [401] * 5 + [429, 401]


def test_workers_sharing_the_session_secret_accept_each_others_sessions(make_app: Callable[..., FastAPI]) -> None:
    """Two workers (two apps) with the same CLAUSEGUARD_SESSION_SECRET: a session and a form made by one
    work on the other; without the secret each app signs with its own."""
    secret = "s" * 32
    first, second, alone = make_app(session_secret=secret), make_app(session_secret=secret), make_app()
    with TestClient(first, follow_redirects=False) as one:
        assert login(one).status_code == 303
        cookie, token = one.cookies["cg_session"], csrf(one, "/report?regime=dsa")
    for other, accepted in ((second, True), (alone, False)):
        with TestClient(other, follow_redirects=False, cookies={"cg_session": cookie}) as client:
            assert (client.get("/moderation").status_code == 200) is accepted
            response = client.post("/report", data={**NOTICES["dsa"], "regime": "dsa", "csrf_token": token})
            assert (response.status_code == 201) is accepted


@pytest.mark.parametrize(("peer", "proto", "secure"), [
    ("10.0.0.5", "https", True),  # TLS ended at the trusted proxy: clauseguard serve itself sees http
    ("10.0.0.5", "http", False),
    ("203.0.113.9", "https", False),  # not a trusted proxy: its header is not believed
])
def test_session_cookie_is_secure_behind_a_trusted_tls_proxy(make_app: Callable[..., FastAPI], peer: str,
                                                             proto: str, secure: bool) -> None:
    app = make_app(trusted_proxies=("10.0.0.0/8",))
    with TestClient(app, client=(peer, 4321), follow_redirects=False,
                    headers={"X-Forwarded-Proto": proto, "X-Forwarded-For": "198.51.100.7"}) as client:
        response = login(client)
    assert response.status_code == 303
    assert ("Secure" in response.headers["set-cookie"]) is secure


@pytest.mark.parametrize("root_path", ["", "/guard"])
def test_records_unreachable_is_a_page_for_the_pages_and_json_for_the_api(make_app: Callable[..., FastAPI],
                                                                          report_path: Path, monkeypatch,
                                                                          root_path: str) -> None:
    """A visitor whose report could not be stored got a JSON body in the browser."""
    from clauseguard.errors import RecordsError
    from clauseguard.guards.records import notices, transparency

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise RecordsError("could not connect to server")

    monkeypatch.setattr(notices, "file_notice", unreachable)
    monkeypatch.setattr(transparency, "transparency_report", unreachable)
    app = make_app(report_path=report_path)
    with TestClient(app, follow_redirects=False, root_path=root_path) as client:
        response = file_report(client, "dsa")
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.headers["content-type"].startswith("text/html") and "nothing was saved" in response.text
        assert f'href="{root_path}/static/pages.css"' in response.text
        api = client.get("/v1/transparency")
    assert api.status_code == 503 and api.headers["content-type"].startswith("application/json")
    assert api.json() == {"detail": "the records are unavailable; try again later"}
