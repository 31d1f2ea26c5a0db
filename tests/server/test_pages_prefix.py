"""The pages served under a prefix: mounted in a developer's FastAPI app, or behind a proxy (ASGI root_path).

Every link, form action, the stylesheet, every redirect and the session cookie's path carry the prefix,
and the client here only ever follows what the pages and redirects give it, as a browser would. At the
root nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.conftest import ADMIN_TOKEN
from tests.server.test_pages import ANSWERS, NOTICES

PREFIX = "/guard"
_URL = re.compile(r'\b(?:href|action|formaction)="([^"]*)"')


def urls(html: str) -> list[str]:
    """Every link, form action and stylesheet of a page (less the empty icon)."""
    return [url for url in _URL.findall(html) if url != "data:,"]


def action(html: str, form_class: str) -> str:
    match = re.search(rf'<form method="post" action="([^"]+)" class="{form_class}"', html)
    assert match, f"no {form_class} form"
    return match.group(1)


def token(html: str, form_class: str) -> str:
    form = html.split(f'class="{form_class}"', 1)[1]
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def link(html: str, text: str) -> str:
    match = re.search(rf'<a[^>]* href="([^"]+)"[^>]*>{re.escape(text)}</a>', html)
    assert match, f"no link {text!r}"
    return match.group(1).replace("&amp;", "&")


def assert_prefixed(html: str, prefix: str) -> None:
    found = urls(html)
    assert found and all(url.startswith(prefix + "/") for url in found), found


def mounted(guard_app: FastAPI) -> FastAPI:
    """A developer's app with clauseguard mounted at /guard, its lifespan entered as docs/developers/server.md says."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with guard_app.router.lifespan_context(guard_app):
            yield

    host = FastAPI(lifespan=lifespan)

    @host.get("/")
    def home() -> dict[str, str]:
        return {"app": "the developer's own"}

    host.mount(PREFIX, guard_app)
    return host


@pytest.fixture(params=["mount", "root_path"])
def served(request: pytest.FixtureRequest, make_app: Callable[..., FastAPI]) -> Iterator[tuple[TestClient, Any]]:
    """``(client, clauseguard's state)``: mounted at /guard in a host app, or given root_path /guard the way
    ``uvicorn --root-path /guard`` gives it behind a proxy that strips the prefix."""
    guard_app = make_app()
    if request.param == "mount":
        client = TestClient(mounted(guard_app), follow_redirects=False)
    else:
        client = TestClient(guard_app, root_path=PREFIX, follow_redirects=False)
    with client:
        yield client, guard_app.state.clauseguard


def test_report_form_under_a_prefix(served: tuple[TestClient, Any]) -> None:
    client, state = served
    choose = client.get(f"{PREFIX}/report")
    assert choose.status_code == 200
    assert_prefixed(choose.text, PREFIX)
    stylesheet = re.search(r'rel="stylesheet" href="([^"]+)"', choose.text).group(1)
    assert client.get(stylesheet).headers["content-type"].startswith("text/css")
    form = client.get(link(choose.text, "Illegal content (EU Digital Services Act)"))
    assert form.status_code == 200
    assert_prefixed(form.text, PREFIX)
    ack = client.post(action(form.text, "report"),
                      data={**NOTICES["dsa"], "regime": "dsa", "csrf_token": token(form.text, "report")})
    assert ack.status_code == 201, ack.text
    assert_prefixed(ack.text, PREFIX)
    reference = re.search(r'class="reference">([^<]+)<', ack.text).group(1)
    from clauseguard.guards.records.notices import notice_queue

    assert [n.reference for n in notice_queue(state.records, status="open")] == [reference]


def test_moderation_under_a_prefix(served: tuple[TestClient, Any]) -> None:
    client, state = served
    form = client.get(f"{PREFIX}/report?regime=dsa").text
    ack = client.post(action(form, "report"),
                      data={**NOTICES["dsa"], "regime": "dsa", "csrf_token": token(form, "report")}).text
    reference = re.search(r'class="reference">([^<]+)<', ack).group(1)

    to_login = client.get(link(ack, "Moderation"))
    assert to_login.status_code == 303 and to_login.headers["location"] == f"{PREFIX}/moderation/login"
    login_page = client.get(to_login.headers["location"]).text
    assert_prefixed(login_page, PREFIX)
    signed_in = client.post(action(login_page, "login"),
                            data={"token": ADMIN_TOKEN, "csrf_token": token(login_page, "login")})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == f"{PREFIX}/moderation"
    cookie = signed_in.headers["set-cookie"]
    assert f"Path={PREFIX}/moderation" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie and ADMIN_TOKEN not in cookie

    queue = client.get(signed_in.headers["location"])  # the cookie jar sends the cookie only under its path
    assert queue.status_code == 200
    assert_prefixed(queue.text, PREFIX)
    notice = client.get(link(queue.text, reference))
    assert notice.status_code == 200
    assert_prefixed(notice.text, PREFIX)
    decide = action(notice.text, "decision")
    assert decide == f"{PREFIX}/moderation/notices/{reference}/decision"
    decision = {"restriction": "removal", "facts": "Defamatory post", "legal_ground": "Defamation law",
                "explanation": "It defames the notifier.", "territorial_scope": "worldwide", "duration": "indefinite"}
    assert client.post(decide, data=decision).status_code == 403  # CSRF is kept under a prefix
    decided = client.post(decide, data={**decision, "csrf_token": token(notice.text, "decision")})
    assert decided.status_code == 303 and decided.headers["location"] == f"{PREFIX}/moderation/notices/{reference}"
    statement = client.get(decided.headers["location"]).text
    assert "Statement of reasons" in statement
    from clauseguard.guards.records.notices import notice_queue

    assert [n.reference for n in notice_queue(state.records, status="actioned")] == [reference]
    assert_prefixed(statement, PREFIX)

    signed_out = client.post(action(statement, "session"), data={"csrf_token": token(statement, "session")})
    assert signed_out.status_code == 303 and signed_out.headers["location"] == f"{PREFIX}/moderation/login"
    assert 'cg_session=""' in signed_out.headers["set-cookie"]
    assert f"Path={PREFIX}/moderation" in signed_out.headers["set-cookie"]
    assert client.get(f"{PREFIX}/moderation").status_code == 303


def test_questionnaire_and_error_pages_under_a_prefix(served: tuple[TestClient, Any]) -> None:
    client, _ = served
    html = client.get(f"{PREFIX}/questionnaire").text
    assert_prefixed(html, PREFIX)
    assert re.search(rf'formaction="{PREFIX}/questionnaire/download"', html)
    preview = client.post(action(html, "questionnaire"), data={**ANSWERS, "csrf_token": token(html, "questionnaire")})
    assert preview.status_code == 200 and "Preview" in preview.text
    refused = client.post(action(html, "questionnaire"), data=ANSWERS)
    assert refused.status_code == 403
    assert_prefixed(refused.text, PREFIX)
    missing = client.get(f"{PREFIX}/static/nothing.css")
    assert missing.status_code == 404
    assert_prefixed(missing.text, PREFIX)


def test_the_host_app_keeps_its_own_routes(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(mounted(make_app()), follow_redirects=False) as client:
        assert client.get("/").json() == {"app": "the developer's own"}
        assert client.get("/report").status_code == 404  # clauseguard lives under /guard only


# ---- at the root -----------------------------------------------------------------------------------------

ROOT_URLS = {
    "/report": {"/static/pages.css", "/questionnaire", "/report", "/moderation", "/report?regime=dsa",
                "/report?regime=dmca", "/report?regime=take_it_down"},
    "/report?regime=dsa": {"/static/pages.css", "/questionnaire", "/report", "/moderation"},
    "/questionnaire": {"/static/pages.css", "/questionnaire", "/report", "/moderation", "/questionnaire/preview",
                       "/questionnaire/download"},
    "/moderation/login": {"/static/pages.css", "/questionnaire", "/report", "/moderation", "/moderation/login"},
}
STATUSES = ("open", "counter_noticed", "actioned", "rejected", "restored", "retracted")
REGIMES = ("dsa", "dmca", "take_it_down")


@pytest.mark.parametrize("forwarded", [{}, {"X-Forwarded-Prefix": "/evil", "X-Forwarded-Host": "evil.example"}])
def test_at_the_root_the_urls_are_those_of_before(make_app: Callable[..., FastAPI], forwarded: dict[str, str]) -> None:
    """No prefix: the same URLs as ever. A request header never sets the prefix (only the operator does)."""
    with TestClient(make_app(), follow_redirects=False, headers=forwarded) as client:
        for path, expected in ROOT_URLS.items():
            assert set(urls(client.get(path).text)) == expected, path
        form = client.get("/report?regime=dsa").text
        ack = client.post("/report", data={**NOTICES["dsa"], "regime": "dsa", "csrf_token": token(form, "report")})
        reference = re.search(r'class="reference">([^<]+)<', ack.text).group(1)
        assert set(urls(ack.text)) == {"/static/pages.css", "/questionnaire", "/report", "/moderation"}
        assert client.get("/moderation").headers["location"] == "/moderation/login"
        login_page = client.get("/moderation/login").text
        signed_in = client.post("/moderation/login", data={"token": ADMIN_TOKEN, "csrf_token": token(login_page,
                                                                                                     "login")})
        assert signed_in.headers["location"] == "/moderation"
        assert "Path=/moderation;" in signed_in.headers["set-cookie"]
        queue = client.get("/moderation").text
        assert set(urls(queue)) == {"/static/pages.css", "/questionnaire", "/report", "/moderation",
                                    "/moderation/logout", f"/moderation/notices/{reference}",
                                    *(f"/moderation?status={s}" for s in STATUSES),
                                    *(f"/moderation?status=open&amp;regime={r}" for r in REGIMES)}
        notice = client.get(f"/moderation/notices/{reference}").text
        assert set(urls(notice)) == {"/static/pages.css", "/questionnaire", "/report", "/moderation",
                                     "/moderation/logout", f"/moderation/notices/{reference}/decision"}
        decided = client.post(f"/moderation/notices/{reference}/decision", data={
            "restriction": "removal", "facts": "x", "legal_ground": "y", "explanation": "e", "territorial_scope": "EU",
            "duration": "indefinite", "csrf_token": token(notice, "decision")})
        assert decided.headers["location"] == f"/moderation/notices/{reference}"
        signed_out = client.post("/moderation/logout", data={"csrf_token": token(queue, "session")})
        assert signed_out.headers["location"] == "/moderation/login"
        assert "Path=/moderation;" in signed_out.headers["set-cookie"]


# ---- the API beside the pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("way", ["mount", "root_path", "root"])
def test_image_body_limit_holds_under_a_prefix(make_app: Callable[..., FastAPI], way: str) -> None:
    """Under a prefix the path the body limit sees keeps it (/guard/v1/check/image): the image routes still
    take bodies up to max_image_bytes, and the other routes only max_json_bytes."""
    guard_app = make_app(max_json_bytes=10_000, max_image_bytes=100_000)
    prefix = "" if way == "root" else PREFIX
    app = mounted(guard_app) if way == "mount" else guard_app
    with TestClient(app, root_path=PREFIX if way == "root_path" else "") as client:
        image = {"image": "A" * 20_000, "stage": "input"}
        assert client.post(f"{prefix}/v1/check/image", json=image).status_code == 422  # read, not refused
        assert client.post(f"{prefix}/v1/check/image", json={**image, "image": "A" * 120_000}).status_code == 413
        text = {"text": "x" * 20_000, "stage": "input"}
        assert client.post(f"{prefix}/v1/check/text", json=text).status_code == 413
