"""Notices, notifier status, counter-notices, the moderation queue and decisions over HTTP."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from clauseguard.guards.records.models import Notice

DSA = {"regime": "dsa", "explanation": "This post defames me.", "urls": ["https://example.org/p/1"],
       "notifier_name": "Ann Example", "notifier_email": "ann@example.org", "good_faith_statement": True}
CONTACT = {"name": "Bo Example", "email": "bo@example.org"}
DMCA = {"regime": "dmca", "signature": "/Bo Example/", "copyrighted_work": "My photo 'Dawn'",
        "infringing_material": "a copy of the photo", "urls": ["https://example.org/i/2"], "contact": CONTACT,
        "good_faith_statement": True, "accuracy_statement": True, "authority_under_penalty_of_perjury": True}
TID = {"regime": "take_it_down", "signature": "/Cy Example/", "depiction": "an intimate image of me",
       "urls": ["https://example.org/i/3"], "non_consent_statement": True,
       "contact": {"name": "Cy Example", "email": "cy@example.org"}}
# what a restriction's statement of reasons must say besides its facts and ground (DSA Art. 17(3))
SOR = {"explanation": "It is illegal where it is shown.", "territorial_scope": "worldwide", "duration": "indefinite"}
COUNTER = {"signature": "/Di Example/", "removed_material": "the photo", "former_location": "https://example.org/i/2",
           "mistake_statement_under_penalty_of_perjury": True, "name": "Di Example", "address": "1 Road, Town",
           "phone": "+1 555 0100", "consent_to_jurisdiction": True, "accepts_service_of_process": True}


def without(notice: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(notice)
    out.pop(key)
    return out


@pytest.mark.parametrize(("notice", "legal"), [(DSA, False), (DMCA, False), (TID, True)])
def test_notice_is_acknowledged(client: TestClient, notice: dict[str, Any], legal: bool) -> None:
    response = client.post("/v1/notices", json=notice)
    assert response.status_code == 201
    ack = response.json()
    assert ack["regime"] == notice["regime"]
    assert ack["reference"].startswith({"dsa": "DSA-", "dmca": "DMCA-", "take_it_down": "TID-"}[notice["regime"]])
    assert ack["deadline_is_legal"] is legal
    assert ack["deadline"] > ack["received_at"]


@pytest.mark.parametrize(("notice", "field"), [
    (without(DSA, "explanation"), "explanation"),
    (without(DSA, "notifier_email"), "notifier_email"),
    (without(DMCA, "signature"), "signature"),
    ({**DMCA, "accuracy_statement": False}, "accuracy_statement"),
    (without(TID, "contact"), "contact"),
    (without(DSA, "regime"), "regime"),
    ({**DSA, "regime": "gdpr"}, ""),
])
def test_incomplete_notice_names_the_field(client: TestClient, notice: dict[str, Any], field: str) -> None:
    response = client.post("/v1/notices", json=notice)
    assert response.status_code == 422
    assert any(e["field"].endswith(field) for e in response.json()["errors"])


def test_notifier_status_needs_reference_and_email(client: TestClient) -> None:
    ref = client.post("/v1/notices", json=DMCA).json()["reference"]
    ok = client.get(f"/v1/notices/{ref}", headers={"X-Notifier-Email": "BO@example.org"})
    assert ok.status_code == 200 and ok.json()["status"] == "open" and ok.json()["decision"] is None
    wrong = client.get(f"/v1/notices/{ref}", headers={"X-Notifier-Email": "eve@example.org"})
    unknown = client.get("/v1/notices/DMCA-XXXXXXXXXX", headers={"X-Notifier-Email": "bo@example.org"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert client.get(f"/v1/notices/{ref}").status_code == 422


@pytest.mark.parametrize("email", ["jörg@example.de", "名前@例え.jp"])
def test_notifier_with_a_non_ascii_email_can_read_the_status(client: TestClient, email: str) -> None:
    """HTTP hands header bytes over as latin-1: an address sent as UTF-8 arrived as mojibake and the
    notifier got a 404 for ever (a CJK address had no latin-1 form to send at all). The header is read as
    UTF-8 now, and ``POST /v1/notices/{reference}/status`` takes the address in a JSON body."""
    ref = client.post("/v1/notices", json={**DSA, "notifier_email": email}).json()["reference"]
    by_header = client.get(f"/v1/notices/{ref}", headers=[(b"x-notifier-email", email.encode("utf-8"))])
    by_body = client.post(f"/v1/notices/{ref}/status", json={"notifier_email": email.upper()})
    assert by_header.status_code == by_body.status_code == 200
    assert by_header.json() == by_body.json() and by_header.json()["status"] == "open"
    wrong = client.post(f"/v1/notices/{ref}/status", json={"notifier_email": "eve@example.org"})
    assert wrong.status_code == 404 and wrong.json() == client.get(
        f"/v1/notices/{ref}", headers={"X-Notifier-Email": "eve@example.org"}).json()


@pytest.mark.parametrize(("received", "text"), [
    ("j\u00c3\u00b6rg@example.de", "jörg@example.de"),  # UTF-8 bytes, as HTTP hands them over (latin-1)
    ("j\u00f6rg@example.de", "jörg@example.de"),  # one latin-1 byte, no UTF-8: kept as it came
    ("ann@example.org", "ann@example.org"),
])
def test_notifier_email_header_is_read_as_utf_8_else_latin_1(received: str, text: str) -> None:
    from clauseguard.guards.server.notices import header_text

    assert header_text(received) == text


def test_queue_needs_a_token(client: TestClient) -> None:
    client.post("/v1/notices", json=DSA)
    for headers in ({}, {"Authorization": "Bearer cg_nope_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/moderation/queue", headers=headers)
        assert response.status_code == 401
        assert "example.org" not in response.text


def test_queue_is_ordered_by_deadline(client: TestClient, admin_headers: dict[str, str]) -> None:
    refs = {n["regime"]: client.post("/v1/notices", json=n).json()["reference"] for n in (DSA, DMCA, TID)}
    queue = client.get("/v1/moderation/queue", headers=admin_headers).json()
    assert [q["reference"] for q in queue] == [refs["dmca"], refs["take_it_down"], refs["dsa"]]
    assert [q["deadline"] for q in queue] == sorted(q["deadline"] for q in queue)


def test_decision_closes_the_notice_and_the_notifier_sees_it(client: TestClient,
                                                             admin_headers: dict[str, str]) -> None:
    ref = client.post("/v1/notices", json=DSA).json()["reference"]
    decision = client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers,
                           json={"restriction": "removal", "facts": "The post names and defames the notifier.",
                                 "legal_ground": "Defamation Act 2013 s.1", **SOR})
    assert decision.status_code == 201
    statement = decision.json()
    assert statement["reference"].startswith("SOR-") and statement["notice_reference"] == ref
    assert {r["basis"] for r in statement["redress"]} >= {"DSA Art. 20", "DSA Art. 21"}
    assert client.get("/v1/moderation/queue", headers=admin_headers).json() == []
    status = client.get(f"/v1/notices/{ref}", headers={"X-Notifier-Email": "ann@example.org"}).json()
    assert status["status"] == "actioned" and status["decision"]["reference"] == statement["reference"]


def test_moderators_record_a_retraction_and_when_the_recipient_was_told(client: TestClient,
                                                                      admin_headers: dict[str, str]) -> None:
    """The records could retract a notice and record when its recipient was informed (the Art. 20(2)
    complaint window counts from then), but the service had no way to: a retracted notice stayed open."""
    ref = client.post("/v1/notices", json=DSA).json()["reference"]
    assert client.post(f"/v1/moderation/notices/{ref}/retraction", headers=admin_headers, json={}).status_code == 204
    assert client.get("/v1/moderation/queue", headers=admin_headers).json() == []
    retracted = client.get("/v1/moderation/queue?status=retracted", headers=admin_headers).json()
    assert [q["reference"] for q in retracted] == [ref]
    assert client.post(f"/v1/moderation/notices/{ref}/retraction", headers=admin_headers, json={}).status_code == 422
    assert client.post("/v1/moderation/notices/DSA-XXXXXXXXXX/retraction", headers=admin_headers,
                       json={}).status_code == 404

    ref = client.post("/v1/notices", json=DSA).json()["reference"]
    sor = client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers,
                      json={"restriction": "removal", "facts": "It defames the notifier.",
                            "legal_ground": "Defamation Act 2013 s.1", **SOR}).json()["reference"]
    told = client.post(f"/v1/moderation/decisions/{sor}/informed", headers=admin_headers,
                       json={"at": "2099-01-01T00:00:00+00:00"})
    assert told.status_code == 204
    again = client.post(f"/v1/moderation/decisions/{sor}/informed", headers=admin_headers, json={})
    assert again.status_code == 422  # once only
    naive = client.post(f"/v1/moderation/decisions/{sor}/informed", headers=admin_headers,
                        json={"at": "2099-01-01T00:00:00"})
    assert naive.status_code == 422


@pytest.mark.parametrize(("body", "status"), [
    ({"restriction": "removal", "facts": "no ground given"}, 422),
    ({"restriction": "banish", "facts": "x", "legal_ground": "y"}, 422),
    ({"restriction": "none", "facts": ""}, 422),
])
def test_bad_decisions(client: TestClient, admin_headers: dict[str, str], body: dict[str, Any], status: int) -> None:
    ref = client.post("/v1/notices", json=DSA).json()["reference"]
    assert client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers, json=body).status_code == status


def test_decision_on_unknown_notice_is_404(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/v1/moderation/notices/DSA-XXXXXXXXXX/decision", headers=admin_headers,
                           json={"restriction": "removal", "facts": "x", "legal_ground": "y"})
    assert response.status_code == 404


def test_counter_notice_gives_the_restore_window(client: TestClient, admin_headers: dict[str, str]) -> None:
    ref = client.post("/v1/notices", json=DMCA).json()["reference"]
    early = client.post("/v1/counter-notices", json={"notice_reference": ref, "counter_notice": COUNTER})
    assert early.status_code == 422 and "not been decided" in early.json()["detail"]  # nothing taken down yet
    assert client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers,
                       json={"restriction": "removal", "facts": "x", "legal_ground": "y", **SOR}).status_code == 201
    assert client.post(f"/v1/moderation/notices/{ref}/decision", headers=admin_headers,  # one decision per notice
                       json={"restriction": "none", "facts": "x"}).status_code == 422
    response = client.post("/v1/counter-notices", json={"notice_reference": ref, "counter_notice": COUNTER})
    assert response.status_code == 201
    ack = response.json()
    assert ack["notice_reference"] == ref and ack["restore_not_before"] < ack["restore_not_after"]
    incomplete = client.post("/v1/counter-notices",
                             json={"notice_reference": ref, "counter_notice": without(COUNTER, "phone")})
    assert incomplete.status_code == 422 and "phone" in incomplete.json()["detail"]
    missing = client.post("/v1/counter-notices",
                          json={"notice_reference": "DMCA-XXXXXXXXXX", "counter_notice": COUNTER})
    assert missing.status_code == 404


def test_a_nul_character_in_free_text_is_a_422_naming_the_field(make_app: Any, db_url: str,
                                                                 admin_headers: dict[str, str]) -> None:
    """PostgreSQL cannot store NUL in a text column: a complaint or token label with "\\x00" was a 500
    (the statement failed), and SQLite stored what PostgreSQL could not."""
    with TestClient(make_app(db_url=db_url), raise_server_exceptions=False) as client:
        first, second = (client.post("/v1/notices", json=DSA).json()["reference"] for _ in range(2))
        decided = client.post(f"/v1/moderation/notices/{first}/decision", headers=admin_headers,
                              json={"facts": "f\x00", "restriction": "none"})
        sor = client.post(f"/v1/moderation/notices/{second}/decision", json={"facts": "ok", "restriction": "none"},
                          headers=admin_headers).json()["reference"]
        answers = {
            "facts": decided,
            "explanation": client.post("/v1/complaints", json={"decision_reference": sor, "explanation": "no\x00"}),
            "decision_reference": client.post("/v1/complaints", json={"decision_reference": "SOR\x00",
                                                                      "explanation": "x"}),
            "label": client.post("/v1/admin/tokens", json={"role": "moderator", "label": "x\x00"},
                                 headers=admin_headers),
        }
        complaint = client.post("/v1/complaints", json={"decision_reference": sor, "explanation": "no"}).json()
        answers["reasons"] = client.post(f"/v1/moderation/complaints/{complaint['reference']}/outcome",
                                         json={"outcome": "upheld", "reasons": "r\x00"}, headers=admin_headers)
    for field, response in answers.items():
        assert response.status_code == 422, (field, response.text)
        (error,) = response.json()["errors"]
        assert error["field"] == field and "NUL" in error["msg"], (field, response.text)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/moderation/notices/DSA-X%00/decision"),
    ("POST", "/v1/moderation/complaints/CMP-X%00/outcome"),
    ("GET", "/v1/notices/DSA-X%00"),
    ("DELETE", "/v1/admin/tokens/ab%00"),
    ("GET", "/moderation?status=open%00"),
])
def test_a_nul_character_in_the_url_is_a_400(make_app: Any, db_url: str, admin_headers: dict[str, str],
                                             method: str, path: str) -> None:
    """A reference in the path (or a query value) went into a WHERE clause: PostgreSQL refused the NUL
    and the answer was a 500."""
    body = {"facts": "f", "restriction": "none", "outcome": "upheld", "reasons": "r"}
    with TestClient(make_app(db_url=db_url), raise_server_exceptions=False) as client:
        response = client.request(method, path, headers={**admin_headers, "X-Notifier-Email": "a@example.org"},
                                  json=None if method in ("GET", "DELETE") else body)
    assert response.status_code == 400 and "NUL" in response.json()["detail"], response.text


# ---- public intake is throttled per client; the queue comes in pages --------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/notices", TID),
    ("/v1/complaints", {"decision_reference": "SOR-XXXXXXXXXX", "explanation": "wrong"}),
    ("/v1/counter-notices", {"notice_reference": "DMCA-XXXXXXXXXX", "counter_notice": COUNTER}),
])
def test_public_intake_is_throttled_per_client(make_app: Any, path: str, body: dict[str, Any]) -> None:
    """Anyone could file notices as fast as they liked: 500 fake TAKE IT DOWN notices (48 legal hours, so
    first in the queue) from one address buried the real ones. Each address now files ``intake_burst``
    at once, then ``intake_per_hour``; more is a 429 with Retry-After and nothing is stored."""
    app = make_app(intake_burst=3, intake_per_hour=2)
    with TestClient(app, client=("198.51.100.9", 5000)) as flood, \
            TestClient(app, client=("203.0.113.7", 5000)) as other:
        answers = [flood.post(path, json=body) for _ in range(5)]
        assert other.post(path, json=body).status_code != 429  # another client is not held back
    assert [a.status_code for a in answers[3:]] == [429, 429] and 429 not in [a.status_code for a in answers[:3]]
    assert answers[-1].headers["retry-after"] == "1800" and "too many" in answers[-1].json()["detail"]
    if path == "/v1/notices":
        with app.state.clauseguard.records.session() as s:
            assert s.query(Notice).count() == 4  # three of the flood, one of the other client


def test_the_intake_throttle_has_documented_defaults_and_environment_variables(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    from clauseguard.guards.server.settings import THROTTLE_ENVS, ServerSettings

    defaults = ServerSettings()
    assert (defaults.intake_burst, defaults.intake_per_hour) == (10, 30)
    assert (defaults.questionnaire_burst, defaults.questionnaire_per_hour) == (20, 240)
    monkeypatch.setenv(THROTTLE_ENVS["intake_burst"], "50")
    monkeypatch.setenv(THROTTLE_ENVS["intake_per_hour"], "120.5")
    settings = ServerSettings.from_env()
    assert (settings.intake_burst, settings.intake_per_hour) == (50, 120.5)
    monkeypatch.setenv(THROTTLE_ENVS["intake_burst"], "lots")
    with pytest.raises(ValueError, match="CLAUSEGUARD_INTAKE_BURST: expected a whole number"):
        ServerSettings.from_env()


def test_queue_comes_in_pages_with_the_total_and_a_regime_filter(make_app: Any, admin_headers: dict[str, str]
                                                                 ) -> None:
    """The API answered at most 1000 notices, the nearest deadline first, with no way to see the rest: a
    flood of one kind pushed the others out of reach. Now ``offset`` pages on, ``X-Total-Count`` says how
    many there are, and ``regime`` shows one kind alone."""
    with TestClient(make_app(intake_burst=100)) as client:
        real = client.post("/v1/notices", json=DSA).json()["reference"]
        floods = [client.post("/v1/notices", json=TID).json()["reference"] for _ in range(5)]
        first = client.get("/v1/moderation/queue?limit=3", headers=admin_headers)
        rest = client.get("/v1/moderation/queue?limit=3&offset=3", headers=admin_headers)
        dsa = client.get("/v1/moderation/queue?limit=3&regime=dsa", headers=admin_headers)
        assert client.get("/v1/moderation/queue?regime=gdpr", headers=admin_headers).status_code == 422
    assert first.headers["x-total-count"] == rest.headers["x-total-count"] == "6"
    assert [q["reference"] for q in first.json()] + [q["reference"] for q in rest.json()] == [*floods, real]
    assert [q["reference"] for q in dsa.json()] == [real] and dsa.headers["x-total-count"] == "1"


def test_workers_sharing_the_rate_limit_db_count_intake_together(make_app: Any, tmp_path: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With CLAUSEGUARD_RATE_LIMIT_DB the throttles of the public routes live there too: N workers allow a
    client ``intake_burst`` in all, not N times over."""
    monkeypatch.setenv("CLAUSEGUARD_PSEUDONYM_KEYS", "k1:" + "AQID" * 8)
    shared = str(tmp_path / "buckets.sqlite3")
    one, two = (make_app(rate_limit_db=shared, intake_burst=3) for _ in range(2))
    with TestClient(one, client=("198.51.100.9", 5000)) as a, TestClient(two, client=("198.51.100.9", 5000)) as b:
        answers = [client.post("/v1/notices", json=TID).status_code for client in (a, b, a, b, a)]
    assert answers == [201, 201, 201, 429, 429]
