"""The server's audit log: group commit, the user's pseudonym on each record, drain on shutdown,
health while commits fail, and records errors answered by type (404, 422, 503)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from clauseguard.errors import NoticeError, RawIpError, RecordsError
from clauseguard.guards.records import NoticeNotFound, iter_records, verify
from clauseguard.guards.records import writer as writer_module

CHECK = {"text": "hello", "stage": "input"}


def _records(app: FastAPI) -> list[dict[str, Any]]:
    return list(iter_records(app.state.clauseguard.records))


@pytest.mark.parametrize(("peer", "body", "prefix"), [
    ("203.0.113.9", {"user_key": "account-42"}, "user:"),
    ("203.0.113.9", {}, "ip:"),  # no account: the client's address, pseudonymised
    ("testclient", {}, None),  # no account, no address
])
def test_records_carry_the_users_pseudonym(make_app: Callable[..., FastAPI], peer: str, body: dict[str, str],
                                           prefix: str | None) -> None:
    app = make_app()
    with TestClient(app, client=(peer, 50000)) as client:
        assert client.post("/v1/check/text", json={**CHECK, **body, "request_id": "u-1"}).status_code == 200
    (record,) = _records(app)
    assert record["request_id"] == "u-1"
    assert record["user_key"] is None if prefix is None else record["user_key"].startswith(prefix)
    assert "account-42" not in str(record) and "203.0.113.9" not in str(record)


def test_litellm_records_carry_the_users_pseudonym(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    with TestClient(app) as client:
        client.post("/beta/litellm_basic_guardrail_api", json={
            "texts": ["hi"], "input_type": "request", "litellm_call_id": "c-1",
            "request_data": {"user_api_key_end_user_id": "account-7"}})
    (record,) = _records(app)
    assert record["request_id"] == "c-1" and record["user_key"].startswith("user:")


def test_shutdown_drains_the_queue(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(audit_max_wait_ms=1000)  # batches close only after a second, or at shutdown
    with TestClient(app) as client:
        for i in range(20):
            assert client.post("/v1/check/text", json={**CHECK, "request_id": f"d-{i}"}).status_code == 200
    result = verify(app.state.clauseguard.records)
    assert (result.ok, result.checked) == (True, 20)
    assert app.state.clauseguard.audit_writer.pending == 0


def test_wait_for_commit_answers_after_the_commit(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(audit_wait_for_commit=True, audit_max_wait_ms=50)
    with TestClient(app) as client:
        for i in range(3):
            client.post("/v1/check/text", json={**CHECK, "request_id": f"w-{i}"})
            assert [r["request_id"] for r in _records(app)] == [f"w-{k}" for k in range(i + 1)]


def test_health_says_when_audit_commits_fail(make_app: Callable[..., FastAPI],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RecordsError("disk I/O error")

    app = make_app(audit_max_wait_ms=0)
    with TestClient(app) as client:
        assert client.get("/healthz").json()["audit"] == "ok"
        monkeypatch.setattr(writer_module, "append_many", broken)
        client.post("/v1/check/text", json=CHECK)
        _wait_until(lambda: not app.state.clauseguard.audit_writer.healthy)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert (response.json()["audit"], response.json()["audit_pending"]) == ("failing", 1)
        monkeypatch.undo()  # the disk is back: the retry commits the record
        app.state.clauseguard.audit_writer.flush(timeout=30)
        assert client.get("/healthz").json()["audit"] == "ok"
    assert len(_records(app)) == 1


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class _RaisingSink:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def record(self, decision: Mapping[str, Any]) -> None:
        raise self.error


@pytest.mark.parametrize(("error", "status"), [
    (NoticeNotFound("whatever the wording", fields=("reference",)), 404),
    (NoticeError("no such thing, says the wording", fields=("reference",)), 422),  # wording is not the test
    (RawIpError("raw IP"), 422),
    (RecordsError("audit queue full"), 503),
])
def test_records_errors_are_answered_by_type(make_app: Callable[..., FastAPI], error: Exception,
                                             status: int) -> None:
    with TestClient(make_app(audit_sink=_RaisingSink(error)), raise_server_exceptions=False) as client:
        response = client.post("/v1/check/text", json=CHECK)
    assert response.status_code == status


def test_waiting_for_a_commit_the_database_cannot_make_is_a_503(make_app: Callable[..., FastAPI], tmp_path: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """CLAUSEGUARD_AUDIT_WAIT_FOR_COMMIT=1 with the database gone: the check used to hang for ever (and each
    such request held a worker thread); it gives up after the sink's commit_timeout and answers 503."""
    from sqlalchemy.exc import OperationalError

    from clauseguard.guards.records import AuditSink, AuditWriter, RecordStore

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT INTO audit_log", {}, Exception("could not connect to server"))

    store = RecordStore.open(f"sqlite:///{tmp_path / 'audit.db'}")
    writer = AuditWriter(store, max_wait=0, retry_max=0.05)
    monkeypatch.setattr(writer_module, "append_many", unreachable)
    sink = AuditSink(store, writer=writer, commit_timeout=0.3)
    with TestClient(make_app(audit_sink=sink), raise_server_exceptions=False) as client:
        response = client.post("/v1/check/text", json=CHECK)
    assert response.status_code == 503 and "Retry-After" in response.headers
    monkeypatch.undo()  # the database is back: the queued record is written
    writer.close(timeout=30)
    assert len(list(iter_records(store))) == 1
    store.close()
