"""POST /v1/check/text and /v1/check/image: verdicts, clause ids, validation errors, audit records."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clauseguard.guards import Action, Context, Guard, Verdict
from clauseguard.guards._registry import REGISTRY
from clauseguard.guards.server.models import verdict_response
from clauseguard.guards.sinks import MemorySink
from tests.server.conftest import write_guards

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(("text", "stage", "allowed", "action", "clauses", "output"), [
    ("What is the capital of France?", "input", True, "allow", [], "What is the capital of France?"),
    ("write to me at jane@example.org", "input", True, "redact", ["privacy/minimisation"],
     "write to me at [EMAIL]"),
    ("how do I build a pipe bomb", "input", False, "block", ["content/weapons"], None),
    ("Paris is the capital of France.", "output", True, "label", ["ai/transparency"], None),
])
def test_check_text_verdicts(client: TestClient, text: str, stage: str, allowed: bool, action: str,
                             clauses: list[str], output: str | None) -> None:
    body = client.post("/v1/check/text", json={"text": text, "stage": stage}).json()
    assert (body["allowed"], body["action"]) == (allowed, action)
    assert sorted({c for f in body["findings"] for c in f["clause_ids"]}) == clauses
    if output is not None:
        assert body["output"] == output
    if not allowed:
        assert body["output"] is None and all(f["message"] for f in body["findings"])


def test_blocked_finding_names_clause_and_message(client: TestClient) -> None:
    body = client.post("/v1/check/text", json={"text": "how do I build a pipe bomb", "stage": "input"}).json()
    finding = body["findings"][0]
    assert finding["guard_id"] == "input-harm-terms"
    assert finding["category"] == "S9"
    assert "Weapons" in finding["message"]


def test_request_id_is_echoed_and_audited(client: TestClient, audit: MemorySink) -> None:
    body = client.post("/v1/check/text", json={"text": "hello", "stage": "input", "request_id": "req-42"}).json()
    assert body["request_id"] == "req-42"
    assert [r["request_id"] for r in audit.records] == ["req-42"]
    assert audit.records[0]["action"] == "allow"
    assert "hello" not in str(audit.records[0])


@pytest.mark.parametrize(("payload", "status", "named"), [
    ({"text": "hi"}, 422, "stage"),
    ({"stage": "input"}, 422, "text"),
    ({"text": "hi", "stage": "sideways"}, 422, "stage"),
    ({"text": 3, "stage": "input"}, 422, "text"),
    ({"text": "hi", "stage": "input", "turn": -1}, 422, "turn"),
    ({"text": "hi", "stage": "input", "surprise": 1}, 422, "surprise"),
    ({"text": "hi", "stage": "input", "request_id": "<script>"}, 422, "request_id"),
    ([1, 2], 422, ""),
])
def test_invalid_bodies_name_the_field(client: TestClient, payload: Any, status: int, named: str) -> None:
    response = client.post("/v1/check/text", json=payload)
    assert response.status_code == status
    fields = [e["field"] for e in response.json()["errors"]]
    assert named in fields


@pytest.mark.parametrize(("body", "field"), [
    (b'{"text": "hello \\ud800 world", "stage": "input"}', "text"),   # valid JSON, not encodable text
    (b'{"text": "\\udc00", "stage": "output"}', "text"),
    (b'{"text": "hi", "stage": "input", "user_key": "u\\ud800"}', "user_key"),
])
def test_lone_surrogates_are_422_not_500(client: TestClient, body: bytes, field: str) -> None:
    response = client.post("/v1/check/text", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_validation_errors_do_not_echo_input(client: TestClient) -> None:
    secret = "jane@example.org-" * 3
    response = client.post("/v1/check/text", json={"text": "hi", "stage": secret})
    assert response.status_code == 422
    assert secret not in response.text


@pytest.mark.parametrize("raw", [b"{bad json", b'{"text": "a", "stage": "input"', b"\xff\xfe", b""])
def test_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/check/text", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


# -- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"json": {"image_base64": base64.b64encode(PNG).decode(), "stage": "output", "request_id": "img-1"}},
    {"files": {"file": ("a.png", PNG, "image/png")}, "data": {"stage": "input"}},
])
def test_image_without_image_guards_is_refused_not_allowed(client: TestClient, audit: MemorySink,
                                                           kwargs: dict[str, Any]) -> None:
    """With no image guard in guards.yaml the route answered allowed/allow (and audited an allow) for an image
    nobody checked; it is a 422 naming the stage and the modality, and nothing is recorded."""
    response = client.post("/v1/check/image", **kwargs)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "no image guard" in detail and f"stage {kwargs.get('json', kwargs.get('data'))['stage']}" in detail
    assert "it has no image guard" in detail
    assert audit.records == []


def test_text_at_a_stage_without_text_guards_is_refused(image_app: FastAPI) -> None:
    """An image-only guards.yaml answered allowed/allow for any text at any stage; now a 422 that says where
    the file's guards are, and the image route at the stage that has them still answers."""
    with TestClient(image_app) as client:
        response = client.post("/v1/check/text", json={"text": "write to jane@example.org", "stage": "output"})
        assert response.status_code == 422
        assert response.json()["detail"].startswith("no text guard of guards.yaml runs at stage output")
        image = client.post("/v1/check/image", json={"image_base64": base64.b64encode(PNG).decode(), "stage": "input"})
        assert image.status_code == 422
        assert "its image guards run at stage output" in image.json()["detail"]
        assert client.post("/v1/check/image", json={"image_base64": base64.b64encode(PNG).decode(),
                                                     "stage": "output"}).status_code == 200


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"json": {"image_base64": "not base64!!", "stage": "input"}}, 422),
    ({"json": {"image_base64": "", "stage": "input"}}, 422),
    ({"json": {"stage": "input"}}, 422),
    ({"json": {"image_base64": "AAAA", "stage": "up"}}, 422),
    ({"files": {"file": ("a.png", b"", "image/png")}, "data": {"stage": "input"}}, 422),
    ({"files": {"file": ("a.png", PNG, "image/png")}, "data": {}}, 422),
    ({"data": {"stage": "input", "file": "text"}}, 415),
    ({"content": b"\x89PNG", "headers": {"content-type": "image/png"}}, 415),
    ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400),
])
def test_image_bad_requests(client: TestClient, kwargs: dict[str, Any], status: int) -> None:
    assert client.post("/v1/check/image", **kwargs).status_code == status


class FakeImageGuard(Guard):
    """Blocks images whose bytes contain b"NSFW"; otherwise appends a mark (a changed image)."""

    seen: list[Context] = []  # noqa: RUF012 - the test reads what the guard was given

    def check(self, content: str | bytes, context: Context) -> Verdict:
        FakeImageGuard.seen.append(context)
        assert isinstance(content, bytes)
        if b"NSFW" in content:
            return self.verdict(content, [self.finding("S12", score=0.99)])
        return Verdict(allowed=True, action=Action.LABEL, output=content + b"MARK", guard_id=self.id,
                       metadata={"ai_generated": True})


IMAGE_GUARDS = """
guards:
  - id: image-nsfw
    type: image_nsfw
    stage: output
    modality: image
    on_fail: block
    clauses: [content/sexual-imagery]
    message: "Sexual images are not allowed (Acceptable Use Policy, Sexual content)."
"""


@pytest.fixture
def image_app(make_app: Callable[..., FastAPI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setitem(REGISTRY, "image_nsfw", FakeImageGuard)
    FakeImageGuard.seen = []
    return make_app(guards_path=write_guards(tmp_path, IMAGE_GUARDS))


@pytest.mark.parametrize(("image", "allowed", "clauses", "metadata", "changed"), [
    (PNG + b"NSFW", False, ["content/sexual-imagery"], {}, None),
    (PNG, True, [], {"ai_generated": True}, PNG + b"MARK"),
])
def test_registered_image_guard_runs(image_app: FastAPI, image: bytes, allowed: bool, clauses: list[str],
                                     metadata: dict[str, Any], changed: bytes | None) -> None:
    with TestClient(image_app) as client:
        for kwargs in ({"json": {"image_base64": base64.b64encode(image).decode(), "stage": "output"}},
                       {"files": {"file": ("x.png", image, "image/png")}, "data": {"stage": "output"}}):
            body = client.post("/v1/check/image", **kwargs).json()
            assert body["allowed"] is allowed
            assert [c for f in body["findings"] for c in f["clause_ids"]] == clauses
            assert body["metadata"] == metadata
            got = base64.b64decode(body["output_base64"]) if body["output_base64"] else None
            assert got == changed


@pytest.mark.parametrize(("output", "expected"), [
    (PNG, None),  # unchanged: not sent back
    (PNG + b"MARK", base64.b64encode(PNG + b"MARK").decode()),
])
def test_changed_image_is_returned(output: bytes, expected: str | None) -> None:
    verdict = Verdict(allowed=True, action=Action.LABEL, output=output)
    body = verdict_response(verdict, "r1", PNG)
    assert (body.output, body.output_base64) == (None, expected)


def test_image_guard_sees_only_pseudonymised_ip(image_app: FastAPI) -> None:
    with TestClient(image_app, client=("198.51.100.7", 5000)) as client:
        client.post("/v1/check/image", json={"image_base64": base64.b64encode(PNG).decode(), "stage": "output",
                                             "user_key": "account-17"})
    context = FakeImageGuard.seen[-1]
    assert context.ip and "198.51.100.7" not in context.ip and context.ip.startswith("ip:")
    assert context.user_key and "account-17" not in context.user_key


def test_data_url_is_accepted(image_app: FastAPI) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG + b"NSFW").decode()
    with TestClient(image_app) as client:
        body = client.post("/v1/check/image", json={"image_base64": data_url, "stage": "output"}).json()
    assert body["allowed"] is False


def test_decisions_go_to_the_hash_chained_audit_log(make_app: Callable[..., FastAPI]) -> None:
    from clauseguard.guards.records.audit import iter_records, verify

    app = make_app()
    with TestClient(app) as client:
        client.post("/v1/check/text", json={"text": "hello", "stage": "input", "request_id": "a-1"})
        client.post("/v1/check/text", json={"text": "how do I build a pipe bomb", "stage": "input",
                                            "request_id": "a-2"})
        client.post("/beta/litellm_basic_guardrail_api", json={"texts": ["x"], "input_type": "response",
                                                               "litellm_call_id": "call-9"})
    store = app.state.clauseguard.records
    records = list(iter_records(store))
    assert [(r["request_id"], r["action"]) for r in records] == [("a-1", "allow"), ("a-2", "block"),
                                                                  ("call-9", "label")]
    assert "content/weapons" in records[1]["clause_ids"]
    assert "pipe bomb" not in str(records)
    assert verify(store).ok and verify(store).checked == 3


def test_mounted_in_a_host_app_with_the_documented_lifespan_loses_no_record(tmp_path: Path) -> None:
    """docs/developers/server.md, "Inside your own FastAPI app": the host's lifespan enters ours, so the
    audit queue is drained when the host stops (Starlette runs no lifespan of a mounted app)."""
    from contextlib import asynccontextmanager

    from clauseguard.guards.records import RecordStore, verify
    from clauseguard.guards.server.app import create_app
    from clauseguard.guards.server.settings import ServerSettings
    from tests.server.conftest import GUARDS

    url = f"sqlite:///{tmp_path / 'records.db'}"
    guard_app = create_app(guards_path=GUARDS, db_url=url, settings=ServerSettings(audit_max_wait_ms=1000))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        async with guard_app.router.lifespan_context(guard_app):
            yield

    host = FastAPI(lifespan=lifespan)
    host.mount("/guard", guard_app)
    with TestClient(host) as client:
        for i in range(5):
            assert client.post("/guard/v1/check/text", json={"text": f"hi {i}", "stage": "input"}).status_code == 200
    with RecordStore.open(url) as store:
        assert verify(store).checked == 5
