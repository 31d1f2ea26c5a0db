"""Audit log: append and verify, the DecisionSink, append-only triggers, tamper detection, export."""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError

from clauseguard.errors import GuardConfigError
from clauseguard.guards import GuardSpec, Pipeline
from clauseguard.guards.records import (
    AuditEntry,
    AuditSink,
    RecordStore,
    append,
    append_many,
    export,
    iter_records,
    purge,
    verify,
)
from clauseguard.guards.records import audit as audit_module
from clauseguard.guards.records.audit import HASHED_FIELDS, HASHED_FIELDS_V2
from clauseguard.guards.sinks import DecisionSink
from tests.records.conftest import append_format_1, drop_audit_triggers

N = 5


def _fill(store: RecordStore, n: int = N) -> None:
    for i in range(n):
        append(store, AuditEntry(action="block" if i % 2 else "allow", allowed=not i % 2, request_id=f"r{i}",
                                 stage="input", guard_id="kw", score=i / 10, clause_ids=("content/x",),
                                 findings=({"guard_id": "kw", "score": i / 10},)))


NEW_COLUMNS = ", format, user_key_kind, user_key_commit, user_key_salt"  # migration 0005, after hash


def _sql(*statements: str) -> Callable[[RecordStore], None]:
    def run(store: RecordStore) -> None:
        with store.engine.begin() as conn:
            for s in statements:
                conn.execute(text(s))
    return run


def _rehash_record_3(store: RecordStore) -> None:
    """A careful attacker changes record 3 AND recomputes its hash: the link to record 4 breaks."""
    rec = next(r for r in iter_records(store) if r["seq"] == 3)
    rec["score"] = 0.99
    fields = HASHED_FIELDS_V2 if rec["format"] == 2 else HASHED_FIELDS
    body = json.dumps({k: rec[k] for k in fields}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    new_hash = hashlib.sha256((rec["prev_hash"] + body).encode()).hexdigest()
    _sql(f"UPDATE audit_log SET score = 0.99, hash = '{new_hash}' WHERE seq = 3")(store)


TAMPERS = [
    # (name, tamper, first bad seq, words in the reason)
    ("changed score", _sql("UPDATE audit_log SET score = 0.01 WHERE seq = 3"), 3, "changed"),
    ("changed clause ids", _sql("UPDATE audit_log SET clause_ids = '[\"other\"]' WHERE seq = 1"), 1, "changed"),
    ("changed action", _sql("UPDATE audit_log SET action = 'flag' WHERE seq = 5"), 5, "changed"),
    ("deleted middle row", _sql("DELETE FROM audit_log WHERE seq = 3"), 3, "missing"),
    ("deleted first row", _sql("DELETE FROM audit_log WHERE seq = 1"), 1, "missing"),
    ("swapped rows 2 and 3", _sql("UPDATE audit_log SET seq = -1 WHERE seq = 2",
                                  "UPDATE audit_log SET seq = 2 WHERE seq = 3",
                                  "UPDATE audit_log SET seq = 3 WHERE seq = -1"), 2, "prev_hash"),
    ("inserted copy at 4", _sql("UPDATE audit_log SET seq = seq + 100 WHERE seq > 3",
                                "UPDATE audit_log SET seq = seq - 99 WHERE seq > 100",
                                "INSERT INTO audit_log SELECT 4, time, request_id, stage, guard_id, action, allowed,"
                                " score, clause_ids, document_versions, findings, user_key, prev_hash,"
                                " CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2)"
                                + NEW_COLUMNS + " FROM audit_log WHERE seq = 3"), 4, "prev_hash"),
    ("truncated tail", _sql("DELETE FROM audit_log WHERE seq = 5"), 5, "head"),
    ("head changed", _sql("UPDATE audit_head SET hash = '" + "f" * 64 + "'"), N + 1, "head"),
    ("re-hashed record", _rehash_record_3, 4, "prev_hash"),
    # verify raised a JSONDecodeError traceback instead of naming the record
    ("column not JSON", _sql("UPDATE audit_log SET findings = '{not json' WHERE seq = 2"), 2, "cannot be read"),
    ("column JSON of the wrong type", _sql("UPDATE audit_log SET clause_ids = '5' WHERE seq = 4"), 4, "changed"),
    # the triggers allow a row above the head: verify looked only up to the head and said ok, while every
    # later append failed on that seq (IntegrityError) and the writer gave its records up
    ("record past the head", _sql("INSERT INTO audit_log SELECT 6, time, request_id, stage, guard_id, action,"
                                  " allowed, score, clause_ids, document_versions, findings, user_key, hash,"
                                  " CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2)"
                                  + NEW_COLUMNS + " FROM audit_log WHERE seq = 5"), N + 1, "after the head"),
]


def test_a_missing_head_row_is_a_break_not_a_traceback(store: RecordStore) -> None:
    """verify raised NoResultFound when someone had deleted the audit_head row."""
    _fill(store)
    drop_audit_triggers(store)
    _sql("DELETE FROM audit_head")(store)
    result = verify(store)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, None, "audit_head row missing")


def test_appends_chain_and_verify(store: RecordStore) -> None:
    _fill(store)
    result = verify(store)
    assert (result.ok, result.checked, result.first_bad_seq, result.head_seq) == (True, N, None, N)
    records = list(iter_records(store))
    assert [r["seq"] for r in records] == list(range(1, N + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(records))


def test_empty_log_verifies(store: RecordStore) -> None:
    assert verify(store).ok and verify(store).checked == 0


@pytest.mark.parametrize(("name", "tamper", "bad_seq", "reason"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampering_is_detected(store: RecordStore, name: str, tamper: Callable[[RecordStore], None],
                               bad_seq: int, reason: str) -> None:
    _fill(store)
    drop_audit_triggers(store)
    tamper(store)
    result = verify(store)
    assert not result.ok
    assert result.first_bad_seq == bad_seq, result.reason
    assert reason in result.reason


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET score = 0.5 WHERE seq = 2",
    "DELETE FROM audit_log WHERE seq = 2",
    "DELETE FROM audit_log",
])
def test_triggers_refuse_update_and_delete(store: RecordStore, statement: str) -> None:
    _fill(store)
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert verify(store).ok


def _purge_up_to_3(store: RecordStore) -> None:
    """Five records, the first three past retention: a purge moves the anchor to 3, deletes 1..3 and
    records itself as record 6."""
    now = datetime.now(UTC)
    for i in range(N):
        append(store, AuditEntry(action="allow", allowed=True, request_id=f"r{i}"),
               now=now - timedelta(days=40 if i < 3 else 1))
    assert purge(store, {"data": {"ip_retention_days": 30}}, now=now, audit_days=30).anchor_seq == 3


ANCHOR_TAMPERS = [
    ("anchor onto a wrong hash", "UPDATE audit_head SET anchor_seq = 3, anchor_hash = '" + "f" * 64 + "'", "anchor"),
    ("anchor past the head", "UPDATE audit_head SET anchor_seq = 9, anchor_hash = "
                             "(SELECT hash FROM audit_log WHERE seq = 5)", "anchor"),
    ("anchor backwards", "UPDATE audit_head SET anchor_seq = 1, anchor_hash = "
                         "(SELECT hash FROM audit_log WHERE seq = 1)", "anchor"),
    ("record put back below the anchor", "INSERT INTO audit_log SELECT 2, time, request_id, stage, guard_id,"
                                         " 'allow', allowed, score, clause_ids, document_versions, findings,"
                                         " user_key, prev_hash, 'x' || substr(hash, 2)" + NEW_COLUMNS
                                         + " FROM audit_log WHERE seq = 4",
     "append-only"),
    ("record inserted below the head", "INSERT INTO audit_log SELECT 4, time, request_id, stage, guard_id, action,"
                                       " allowed, score, clause_ids, document_versions, findings, user_key,"
                                       " prev_hash, 'x' || substr(hash, 2)" + NEW_COLUMNS
                                       + " FROM audit_log WHERE seq = 5",
     "append-only"),
    ("head row deleted", "DELETE FROM audit_head", "head row"),
]


@pytest.mark.parametrize(("name", "statement", "words"), ANCHOR_TAMPERS, ids=[t[0] for t in ANCHOR_TAMPERS])
def test_triggers_guard_the_anchor_and_the_head(store: RecordStore, name: str, statement: str, words: str) -> None:
    """With the anchor at 3 and records 1..3 deleted below it, as a purge leaves them."""
    _purge_up_to_3(store)
    with pytest.raises(DatabaseError, match=words), store.engine.begin() as conn:
        conn.execute(text(statement))
    result = verify(store)
    assert (result.ok, result.checked, result.anchor_seq, result.head_seq) == (True, 3, 3, N + 1)


def test_anchor_triggers_reach_a_store_made_before_them(store_url: str) -> None:
    with RecordStore.open(store_url, migrate=False) as old:
        old.migrate("0002_server_api_tokens")
        append_format_1(old, N)
        old.migrate()
        with pytest.raises(DatabaseError, match="anchor"), old.engine.begin() as conn:
            conn.execute(text("UPDATE audit_head SET anchor_seq = 2, anchor_hash = '" + "0" * 64 + "'"))
        assert verify(old).ok


def test_concurrent_appends_never_fork(store_url: str) -> None:
    """Four threads on two separate engines (as two processes would be) append 100 records."""
    stores = [RecordStore.open(store_url), RecordStore.open(store_url)]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(25):
                append(stores[k % 2], AuditEntry(action="allow", allowed=True, request_id=f"{k}-{i}"))
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(stores[0])
    assert (result.ok, result.checked) == (True, 100)
    assert len({r["request_id"] for r in iter_records(stores[0])}) == 100
    for s in stores:
        s.close()


def test_sink_records_pipeline_decisions(store: RecordStore, generated: dict[str, Any], pseudonymizer: Any) -> None:
    sink = AuditSink(store, lock=generated["lock"], report=generated["report"], pseudonymizer=pseudonymizer)
    assert isinstance(sink, DecisionSink)
    spec = GuardSpec(id="kw", type="keyword", params={"categories": [], "terms": {"S1": ["detonate"]}},
                     clauses=["content/violence-and-weapons"], message="Blocked under section 2.1.")
    pipeline = Pipeline([spec], sink=sink)
    assert not pipeline.check_input("how to detonate it").allowed
    assert pipeline.check_input("hello").allowed
    first, second = list(iter_records(store))
    assert (first["action"], first["guard_id"]) == ("block", "kw")
    assert first["clause_ids"] == ["content/violence-and-weapons"]
    assert (second["action"], second["findings"], second["score"]) == ("allow", [], None)
    assert set(first["document_versions"]) >= {"terms-of-use", "acceptable-use-policy"}
    assert "detonate" not in json.dumps(first)
    assert verify(store).ok


OTHER_PROFILE = "0123456789abcdef" * 4


def test_sink_refuses_a_guards_file_lock_or_report_of_another_profile(store: RecordStore, generated: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    """AuditSink took a lock and report of one profile beside a guards.yaml of another (records citing the
    clauses of one with the document hashes of the other), which ``serve`` refuses: now a GuardConfigError
    naming both files and both hashes, at construction (``guards=``) or from ``check_guards``."""
    other = tmp_path / "guards.yaml"
    other.write_text(f"profile_sha256: {OTHER_PROFILE}\nguards:\n  - {{id: kw, type: keyword}}\n", encoding="utf-8")
    own = json.loads(generated["report"].read_text(encoding="utf-8"))["profile_sha256"]
    with pytest.raises(GuardConfigError) as err:
        AuditSink(store, guards=other, lock=generated["lock"], report=generated["report"])
    assert all(s in str(err.value) for s in (str(other), str(generated["lock"]), OTHER_PROFILE, own))
    sink = AuditSink(store, lock=generated["lock"], report=generated["report"])
    with pytest.raises(GuardConfigError, match="different profiles"):
        sink.check_guards(other)
    with pytest.raises(GuardConfigError, match=r"the report\.json mapping"):  # a lock and a report of two profiles
        AuditSink(store, lock=generated["lock"], report={"profile_sha256": OTHER_PROFILE, "documents": []})
    with pytest.raises(GuardConfigError, match="different profiles"):  # the file the pipeline reads is checked too
        Pipeline.from_yaml(other, sink=sink)
    sink.check_guards(generated["dir"] / "guards.yaml")  # the same run's: accepted
    Pipeline.from_yaml(generated["dir"] / "guards.yaml", sink=sink)
    sink.check_guards({"guards": []})  # hand-written, no stamp: nothing to compare
    AuditSink(store, guards=generated["dir"] / "guards.yaml", lock=generated["lock"], report=generated["report"])


@pytest.mark.parametrize(("extra", "prefix"), [
    ({"ip": "203.0.113.9"}, "ip:k2:"),
    ({"user_key": "account-42"}, "user:k2:"),
    ({"user_key_pseudonym": "user:k9:" + "a" * 64, "user_key": "account-42"}, "user:k9:"),  # made by the server
    ({}, None),
])
def test_sink_pseudonymises_user_keys(store: RecordStore, pseudonymizer: Any, extra: dict[str, str],
                                      prefix: str | None) -> None:
    AuditSink(store, pseudonymizer=pseudonymizer).record({"action": "allow", "allowed": True, **extra})
    (rec,) = iter_records(store)
    assert rec["user_key"] is None if prefix is None else rec["user_key"].startswith(prefix)
    assert "203.0.113.9" not in json.dumps(rec) and "account-42" not in json.dumps(rec)


def test_export_lines_recompute_without_clauseguard(store: RecordStore, tmp_path: Path) -> None:
    _fill(store)
    out = tmp_path / "audit.jsonl"
    assert export(store, out) == N
    prev = "0" * 64
    for line in out.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        fields = HASHED_FIELDS_V2 if rec["format"] == 2 else HASHED_FIELDS
        body = json.dumps({k: rec[k] for k in fields}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        assert rec["prev_hash"] == prev
        assert hashlib.sha256((prev + body).encode()).hexdigest() == rec["hash"]
        prev = rec["hash"]


def _append_when_the_head_is_read(store: RecordStore, n: int) -> None:
    """Another writer appends ``n`` records just after the next read of audit_head (a live server)."""
    fired: list[bool] = []

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("SELECT") and "audit_head" in statement:
            fired.append(True)
            append_many(store, [AuditEntry(action="allow", allowed=True, request_id=f"late{i}") for i in range(n)])

    event.listen(store.engine, "after_cursor_execute", after)


def test_verify_while_records_are_appended(store: RecordStore) -> None:
    """Head and records come from one snapshot: records appended meanwhile are not a break."""
    _fill(store)
    _append_when_the_head_is_read(store, 3)
    result = verify(store)
    assert (result.ok, result.checked, result.head_seq) == (True, N, N), result.reason
    assert verify(store).checked == N + 3


def test_purge_while_records_are_appended(store: RecordStore) -> None:
    _fill(store)
    _append_when_the_head_is_read(store, 3)
    assert purge(store, {"data": {"ip_retention_days": 30}}).audit_records_dropped == 0
    assert verify(store).ok


def test_verify_reports_the_anchor_with_the_head(store: RecordStore) -> None:
    _fill(store)
    result = verify(store)
    assert (result.anchor_seq, result.anchor_hash) == (0, "0" * 64)


def _move_anchor_and_edit_2(store: RecordStore) -> None:
    """The anchor moved to 3 by hand (no purge) makes 1..3 deletable; record 2 is then rewritten."""
    with store.engine.begin() as conn:
        h3 = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 3")).scalar_one()
        conn.execute(text("UPDATE audit_head SET anchor_seq = 3, anchor_hash = :h"), {"h": h3})
        conn.execute(text("UPDATE audit_log SET action = 'allow', allowed = :t WHERE seq = 2"), {"t": True})


BELOW_ANCHOR = [
    ("edited below a moved anchor", _move_anchor_and_edit_2, 2, "changed"),
    ("anchor moved past a kept record", _sql("UPDATE audit_head SET anchor_seq = 2, anchor_hash = "
                                             "(SELECT hash FROM audit_log WHERE seq = 3)"), 3, "anchor"),
    ("deleted below a moved anchor", _sql("UPDATE audit_head SET anchor_seq = 3, anchor_hash = "
                                          "(SELECT hash FROM audit_log WHERE seq = 3)",
                                          "DELETE FROM audit_log WHERE seq = 2"), 2, "missing"),
]


@pytest.mark.parametrize(("name", "tamper", "bad_seq", "reason"), BELOW_ANCHOR, ids=[t[0] for t in BELOW_ANCHOR])
def test_records_left_below_the_anchor_are_verified(store: RecordStore, name: str,
                                                    tamper: Callable[[RecordStore], None], bad_seq: int,
                                                    reason: str) -> None:
    _fill(store)
    drop_audit_triggers(store)
    tamper(store)
    result = verify(store)
    assert (result.ok, result.first_bad_seq) == (False, bad_seq), result.reason
    assert reason in result.reason


def test_export_failing_midway_keeps_the_previous_export(store: RecordStore, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store)
    out = tmp_path / "exports" / "audit.jsonl"
    export(store, out)
    before = out.read_bytes()
    append(store, AuditEntry(action="allow", allowed=True))
    real, lines = audit_module.canonical_json, itertools.count()

    def disk_full_at_line_3(value: Any) -> str:
        if next(lines) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(value)

    monkeypatch.setattr(audit_module, "canonical_json", disk_full_at_line_3)
    with pytest.raises(OSError, match="No space"):
        export(store, out)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["audit.jsonl"]  # no temporary file left
    monkeypatch.undo()
    assert export(store, out) == N + 1 and len(out.read_text(encoding="utf-8").splitlines()) == N + 1


def test_a_naive_record_time_is_refused(store: RecordStore) -> None:
    """It was read as the machine's local time, so records imported with utcnow() moved by hours."""
    with pytest.raises(ValueError, match="now is a naive datetime"):
        append(store, AuditEntry(action="allow", allowed=True), now=datetime(2026, 3, 2, 12, 0))
    assert verify(store).head_seq == 0
