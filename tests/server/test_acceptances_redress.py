"""Acceptances against clauseguard.lock, complaints against decisions, the transparency report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.test_records_api import DSA


def write_lock(path: Path, clause_hash: str = "a" * 64) -> Path:
    lock = {"clauseguard_version": "0.1.0", "profile_sha256": "0" * 64,
            "clauses": [{"id": "core/agreement", "version": "1.0.0", "sha256": clause_hash, "layer": "built-in"}],
            "templates": [{"id": "terms-of-use", "version": "1.0.1", "sha256": "b" * 64, "layer": "built-in"},
                          {"id": "privacy-notice", "version": "1.0.0", "sha256": "c" * 64, "layer": "built-in"}]}
    path.write_text(yaml.safe_dump(lock), encoding="utf-8")
    return path


KEYS = "k1:" + "AQID" * 8  # acceptances need a pseudonym key that outlives the process


@pytest.fixture(autouse=True)
def pseudonym_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUSEGUARD_PSEUDONYM_KEYS", KEYS)


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return write_lock(tmp_path / "clauseguard.lock")


@pytest.fixture
def with_lock(make_app: Callable[..., FastAPI], lock: Path) -> Iterator[TestClient]:
    with TestClient(make_app(lock_path=lock), client=("203.0.113.5", 4000)) as client:
        yield client


def needed(client: TestClient, user: str) -> list[str]:
    response = client.get(f"/v1/acceptances/{user}/needed")
    by_post = client.post("/v1/acceptances/needed", json={"user_key": user})  # the id kept out of the URL
    assert response.status_code == by_post.status_code == 200
    assert response.json() == by_post.json()
    return [d["id"] for d in response.json()["documents"]]


def test_acceptance_flow(with_lock: TestClient) -> None:
    assert needed(with_lock, "acct-1") == ["terms-of-use", "privacy-notice"]
    response = with_lock.post("/v1/acceptances", json={"user_key": "acct-1", "document_ids": ["terms-of-use"]})
    assert response.status_code == 201
    (row,) = response.json()
    assert (row["id"], row["version"]) == ("terms-of-use", "1.0.1") and len(row["sha256"]) == 64
    assert needed(with_lock, "acct-1") == ["privacy-notice"]
    assert needed(with_lock, "acct-2") == ["terms-of-use", "privacy-notice"]
    again = with_lock.post("/v1/acceptances", json={"user_key": "acct-1", "document_ids": ["terms-of-use"]})
    assert again.json()[0]["accepted_at"] == row["accepted_at"]  # idempotent: the first record stays


def test_acceptance_is_stored_pseudonymised(with_lock: TestClient) -> None:
    from clauseguard.guards.records.models import Acceptance

    with_lock.post("/v1/acceptances", json={"user_key": "acct-9", "document_ids": ["privacy-notice"]})
    state = with_lock.app.state.clauseguard  # type: ignore[attr-defined]
    with state.records.session() as s:
        (stored,) = s.query(Acceptance).all()
    assert "acct-9" not in stored.subject_key and "203.0.113" not in (stored.ip_key or "")
    assert stored.ip_key == state.pseudonymizer.ip("203.0.113.5") and stored.channel == "api"


def test_changed_text_asks_again(make_app: Callable[..., FastAPI], lock: Path) -> None:
    app = make_app(lock_path=lock)
    with TestClient(app) as client:
        client.post("/v1/acceptances", json={"user_key": "u", "document_ids": ["terms-of-use", "privacy-notice"]})
        assert needed(client, "u") == []
        write_lock(lock, clause_hash="d" * 64)  # a clause changed: every document of the lock changes hash
        assert needed(client, "u") == ["terms-of-use", "privacy-notice"]


@pytest.mark.parametrize(("body", "status"), [
    ({"user_key": "u", "document_ids": ["cookie-policy"]}, 422),
    ({"user_key": "u", "document_ids": []}, 422),
    ({"document_ids": ["terms-of-use"]}, 422),
    ({"user_key": "u", "document_ids": ["terms-of-use"], "channel": "Not A Channel"}, 422),
])
def test_bad_acceptances(with_lock: TestClient, body: dict[str, object], status: int) -> None:
    assert with_lock.post("/v1/acceptances", json=body).status_code == status


def test_acceptances_without_a_lasting_pseudonym_key_are_503_naming_it(
        make_app: Callable[..., FastAPI], lock: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CLAUSEGUARD_PSEUDONYM_KEYS each process keyed the account ids with its own random key: an
    acceptance was recorded, and after a restart (or on another worker) the same user was asked again, and
    the stored acceptance could no longer be linked to them."""
    monkeypatch.delenv("CLAUSEGUARD_PSEUDONYM_KEYS")
    with TestClient(make_app(lock_path=lock)) as client:
        responses = [client.post("/v1/acceptances", json={"user_key": "u", "document_ids": ["terms-of-use"]}),
                     client.post("/v1/acceptances/needed", json={"user_key": "u"}),
                     client.get("/v1/acceptances/u/needed")]
        state = client.app.state.clauseguard  # type: ignore[attr-defined]
        with state.records.session() as s:
            from clauseguard.guards.records.models import Acceptance

            stored = s.query(Acceptance).count()
    assert [r.status_code for r in responses] == [503, 503, 503] and stored == 0
    assert all("CLAUSEGUARD_PSEUDONYM_KEYS" in r.json()["detail"] for r in responses)


@pytest.mark.parametrize(("error", "status"), [("records", 503), ("unexpected", 500)])
def test_error_logs_name_the_route_not_the_account_id_in_the_path(
        with_lock: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: str,
        status: int) -> None:
    """The records-outage and unexpected-error log lines named ``request.url.path``: for
    ``GET /v1/acceptances/{user}/needed`` that is the raw account id, which ``clauseguard serve`` turns the
    access log off to keep out of the logs."""
    from clauseguard.errors import RecordsError
    from clauseguard.guards.server import acceptances

    def fail(*args: object) -> None:
        raise RecordsError("store down") if error == "records" else RuntimeError("bug")

    monkeypatch.setattr(acceptances, "_needed", fail)
    with TestClient(with_lock.app, raise_server_exceptions=False) as client, caplog.at_level("ERROR"):
        response = client.get("/v1/acceptances/alice.smith@example.com/needed")
    assert response.status_code == status
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/acceptances/{user}/needed" in logged
    assert "alice" not in logged
    if error == "unexpected":
        assert response.json()["error_id"] in logged


def test_acceptances_without_lock_are_409(client: TestClient) -> None:
    assert client.get("/v1/acceptances/u/needed").status_code == 409
    assert client.post("/v1/acceptances/needed", json={"user_key": "u"}).status_code == 409
    assert client.post("/v1/acceptances", json={"user_key": "u", "document_ids": ["x"]}).status_code == 409


def test_complaint_and_transparency(client: TestClient, admin_headers: dict[str, str]) -> None:
    ref = client.post("/v1/notices", json=DSA).json()["reference"]
    sor = client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers,
                      json={"restriction": "none", "facts": "Not defamatory: a fair review."}).json()["reference"]
    complaint = client.post("/v1/complaints", json={"decision_reference": sor, "explanation": "It is defamatory."})
    assert complaint.status_code == 201 and complaint.json()["reference"].startswith("CMP-")
    assert client.post("/v1/complaints", json={"decision_reference": "SOR-XXXXXXXXXX",
                                               "explanation": "x"}).status_code == 404
    cmp_ref = complaint.json()["reference"]
    outcome = {"outcome": "upheld", "reasons": "A second moderator agreed it is a fair review."}
    assert client.post(f"/v1/moderation/complaints/{cmp_ref}/outcome", json=outcome).status_code == 401
    assert client.post(f"/v1/moderation/complaints/{cmp_ref}/outcome", json=outcome,
                       headers=admin_headers).status_code == 204
    report = client.get("/v1/transparency").json()
    assert report["notices"]["by_regime"] == {"dsa": 1}
    assert report["decisions"]["by_outcome"] == {"no_action": 1}
    assert report["complaints"]["by_outcome"] == {"upheld": 1}
    assert "example.org" not in str(report)


def test_a_transparency_period_that_ends_before_it_starts_is_refused(client: TestClient) -> None:
    """It answered 200 with every count 0 for the reversed period, which reads as a quiet quarter."""
    response = client.get("/v1/transparency", params={"start": "2026-07-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"})
    assert response.status_code == 422 and "is after its end" in response.json()["detail"]
    same = client.get("/v1/transparency", params={"start": "2026-04-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"})
    assert same.status_code == 200 and same.json()["notices"]["total"] == 0
