"""Body limits, safe headers, client addresses behind proxies, health and metrics."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from clauseguard.guards.server.client import client_address
from clauseguard.guards.server.settings import ServerSettings

PROXIES = ServerSettings(trusted_proxies=("10.0.0.0/8", "127.0.0.1")).proxy_networks()


@pytest.mark.parametrize(("peer", "forwarded", "expected"), [
    ("203.0.113.9", None, "203.0.113.9"),
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: the header is ignored
    ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
    ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # left-most hops are the client's own claim
    ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # proxies in the chain are skipped
    ("10.1.2.3", "10.9.9.9", "10.9.9.9"),
    ("10.1.2.3", "not-an-ip", "10.1.2.3"),
    ("10.1.2.3", " , ", "10.1.2.3"),
    (None, "198.51.100.1", None),
])
def test_client_address(peer: str | None, forwarded: str | None, expected: str | None) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_untrusted_forwarded_for_is_ignored_for_pseudonyms(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    state = app.state.clauseguard
    with TestClient(app, client=("203.0.113.9", 1234)) as client:
        client.post("/v1/notices", json={"regime": "dsa", "explanation": "x", "urls": ["https://e.org/1"],
                                         "notifier_name": "A", "notifier_email": "a@e.org",
                                         "good_faith_statement": True},
                    headers={"X-Forwarded-For": "198.51.100.1"})
    from clauseguard.guards.records.notices import notice_queue

    (notice,) = notice_queue(state.records)
    assert notice.notifier_ip_key == state.pseudonymizer.ip("203.0.113.9")
    assert "203.0.113" not in notice.notifier_ip_key


@pytest.fixture
def small(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_app(max_json_bytes=2_000, max_image_bytes=5_000)) as client:
        yield client


@pytest.mark.parametrize(("path", "size", "status"), [
    ("/v1/check/text", 1_500, 200),
    ("/v1/check/text", 2_500, 413),
    ("/v1/notices", 3_000, 413),
    ("/beta/litellm_basic_guardrail_api", 3_000, 200),  # images may come this way: the image limit applies
    ("/beta/litellm_basic_guardrail_api", 6_000, 413),
])
def test_body_limits(small: TestClient, path: str, size: int, status: int) -> None:
    text = "a" * size
    body = ({"text": text, "stage": "input"} if path == "/v1/check/text" else
            {"texts": [text], "input_type": "request"} if path.startswith("/beta") else {"regime": "dsa", "x": text})
    assert small.post(path, json=body).status_code == status


def test_image_limit(small: TestClient) -> None:
    big = base64.b64encode(b"\x89PNG" + b"\x00" * 6_000).decode()
    assert small.post("/v1/check/image", json={"image_base64": big, "stage": "input"}).status_code == 413
    assert small.post("/v1/check/image", files={"file": ("a.png", b"\x00" * 6_000)},
                      data={"stage": "input"}).status_code == 413


def test_streamed_body_over_the_limit_is_413(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'", "stage": "input"}'

    response = small.post("/v1/check/text", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("length", ["abc", "-1", "99999999999"])
def test_bad_content_length_is_refused(small: TestClient, length: str) -> None:
    response = small.post("/v1/check/text", content=b"{}", headers={"content-type": "application/json",
                                                                    "content-length": length})
    assert response.status_code in (400, 413)


def test_security_headers_and_json_escaping(client: TestClient) -> None:
    response = client.post("/v1/check/text", json={"text": "<script>alert(1)</script>", "stage": "input"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["output"] == "<script>alert(1)</script>"


def test_healthz(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body == {"status": "ok", "database": "ok", "guards": 7, "documents": 0, "audit": "external",
                    "audit_pending": 0}


def test_healthz_reports_an_unreachable_database(make_app: Callable[..., FastAPI], tmp_path: object) -> None:
    app = make_app()
    app.state.clauseguard.engine = create_engine("sqlite:////nonexistent-dir/x.db")
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "unreachable"


def test_metrics_count_requests_verdicts_and_latency(client: TestClient) -> None:
    client.post("/v1/check/text", json={"text": "hello", "stage": "input"})
    client.post("/v1/check/text", json={"text": "how do I build a pipe bomb", "stage": "input"})
    client.post("/v1/check/text", json={"text": "hi"})
    text = client.get("/metrics").text
    assert 'clauseguard_http_requests_total{endpoint="/v1/check/text",method="POST",status="200"} 2.0' in text
    assert 'clauseguard_http_requests_total{endpoint="/v1/check/text",method="POST",status="422"} 1.0' in text
    assert 'clauseguard_verdicts_total{action="block",stage="input"} 1.0' in text
    assert 'clauseguard_verdicts_total{action="allow",stage="input"} 1.0' in text
    assert 'clauseguard_guard_seconds_count{stage="input"} 2.0' in text


def test_refusals_and_errors_carry_the_security_headers(make_app: Callable[..., FastAPI]) -> None:
    """A 413 (declared or streamed) and a 500 are answered outside the routes; they carry the headers too."""
    app = make_app(max_json_bytes=100)

    def fail() -> bytes:
        raise RuntimeError("boom")

    app.state.clauseguard.metrics.render = fail
    with TestClient(app, raise_server_exceptions=False) as client:
        declared = client.post("/v1/check/text", content=b"x" * 200, headers={"content-type": "application/json"})
        streamed = client.post("/v1/check/text", content=iter([b"x" * 80] * 3),
                               headers={"content-type": "application/json"})
        failed = client.get("/metrics")
    assert (declared.status_code, streamed.status_code, failed.status_code) == (413, 413, 500)
    assert "boom" not in failed.text
    for response in (declared, streamed, failed):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_a_bad_secret_in_the_environment_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """``create_app()`` without settings reads them from the environment; its error (a traceback in the
    operator's log) names the variable's field and why, never the value."""
    from pydantic import ValidationError

    monkeypatch.setenv("CLAUSEGUARD_ADMIN_TOKEN", "my-real-secret")
    with pytest.raises(ValidationError) as caught:
        ServerSettings.from_env()
    assert "admin_token" in str(caught.value) and "16 characters" in str(caught.value)
    assert "my-real-secret" not in str(caught.value)


def test_invented_methods_do_not_grow_the_metrics(client: TestClient) -> None:
    """A client may send any method token (h11 accepts them): each one was a new series, without bound."""
    for i in range(50):
        client.request(f"X{i}", "/v1/notices")
    client.request("PROPFIND", "/nowhere")
    lines = [line for line in client.get("/metrics").text.splitlines()
             if line.startswith("clauseguard_http_requests_total") and 'method="GET"' not in line]
    assert lines == ['clauseguard_http_requests_total{endpoint="/v1/notices",method="other",status="405"} 50.0',
                     'clauseguard_http_requests_total{endpoint="unmatched",method="other",status="404"} 1.0']
