"""The audit log: an append-only, hash-chained record of every guard decision.

Each record's ``hash`` is ``sha256(prev_hash + canonical JSON of the record)``, where the record holds
its own ``seq``; ``audit_head`` (one row, written in the same transaction as each append) keeps the last
seq and hash, and the anchor a purge left. So :func:`verify` finds a changed field, a removed, inserted
or reordered record, a gap in seq, and a truncated tail. Appends are serialised (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL ``SELECT ... FOR UPDATE`` on the head row), so the chain never forks; see
:mod:`._chain` for appending and :mod:`.writer` for group commit (many records per transaction).

Limits: the chain is unkeyed, so someone who can write the database could rebuild the whole chain and
the head. Keep a copy of the head (``audit verify`` prints it) outside the database to detect that.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from clauseguard.guards.records._chain import (
    HASHED_FIELDS,
    JSON_FIELDS,
    AppendResult,
    AuditEntry,
    append,
    append_many,
    canonical_json,
    record_hash,
)
from clauseguard.guards.records.lockfile import DocumentVersion, document_versions
from clauseguard.guards.records.models import AuditHead, AuditRecord
from clauseguard.guards.records.pseudonym import Pseudonymizer
from clauseguard.guards.records.store import RecordStore

if TYPE_CHECKING:
    from concurrent.futures import Future

    from clauseguard.guards.records.writer import AuditWriter

__all__ = [
    "HASHED_FIELDS",
    "AppendResult",
    "AuditEntry",
    "AuditSink",
    "VerifyResult",
    "append",
    "append_many",
    "canonical_json",
    "entry_from_decision",
    "export",
    "iter_records",
    "record_hash",
    "verify",
]

_FINDING_KEYS = ("guard_id", "category", "score", "span", "clause_ids", "action")


def _record_dict(row: AuditRecord) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in HASHED_FIELDS}
    for k in JSON_FIELDS:
        out[k] = json.loads(out[k])
    return out


def entry_from_decision(decision: Mapping[str, Any], *, versions: Mapping[str, Mapping[str, str]] | None,
                        pseudonymizer: Pseudonymizer | None) -> AuditEntry:
    """Turn a pipeline decision (see ``Pipeline._record``) into an audit entry.

    The guard id, score and clause ids are those of the strongest finding's guard: the whole set of
    findings (without messages) is kept in ``findings``. ``user_key``/``ip`` in the decision, when the
    caller adds them, are pseudonymised here; nothing raw reaches the store.
    """
    findings = [{k: f.get(k) for k in _FINDING_KEYS} for f in decision.get("findings", [])]
    top = max(findings, key=lambda f: f.get("score") or 0.0, default=None)
    blocking = [f for f in findings if f.get("action") == decision.get("action")] or findings
    return AuditEntry(
        action=str(decision.get("action", "allow")), allowed=bool(decision.get("allowed", True)),
        request_id=decision.get("request_id"), stage=decision.get("stage"),
        guard_id=(blocking[0] if blocking else top or {}).get("guard_id"),
        score=max((f.get("score") or 0.0 for f in findings), default=None),
        clause_ids=tuple(c for f in findings for c in f.get("clause_ids") or ()),
        document_versions=versions, findings=tuple(findings),
        user_key=_user_key(decision, pseudonymizer),
    )


def _user_key(decision: Mapping[str, Any], pseudonymizer: Pseudonymizer | None) -> str | None:
    """A pseudonym the caller already made wins (the server adds ``user_key_pseudonym``); else the raw
    ``user_key`` or ``ip`` is pseudonymised here (never stored raw)."""
    if pseudonymizer is None or decision.get("user_key_pseudonym"):
        return decision.get("user_key_pseudonym")
    if decision.get("user_key"):
        return pseudonymizer.user(str(decision["user_key"]))
    if decision.get("ip"):
        return pseudonymizer.ip(str(decision["ip"]))
    return decision.get("user_key_pseudonym")


class AuditSink:
    """A :class:`~clauseguard.guards.sinks.DecisionSink` that appends each decision to the audit log.

    ``lock`` (a path to clauseguard.lock or its dict) stamps every record with the document versions in
    force; ``report`` narrows each document's hash to its own clauses. A decision may carry
    ``user_key`` (an account id) or ``ip``: they are pseudonymised with ``pseudonymizer`` (by default
    from ``CLAUSEGUARD_PSEUDONYM_KEYS``) before anything is stored.

    Without ``writer`` each decision is one transaction, committed before :meth:`record` returns. With
    an :class:`~clauseguard.guards.records.writer.AuditWriter`, decisions are group-committed; with
    ``wait_for_commit=False`` :meth:`record` returns once the record is queued (durable within the
    writer's ``max_wait`` plus one commit), otherwise once its batch is committed.
    """

    def __init__(self, store: RecordStore, *, lock: str | Path | Mapping[str, Any] | None = None,
                 report: str | Path | Mapping[str, Any] | None = None,
                 pseudonymizer: Pseudonymizer | None = None, writer: AuditWriter | None = None,
                 wait_for_commit: bool = True) -> None:
        self.store = store
        versions: dict[str, DocumentVersion] = document_versions(lock, report) if lock is not None else {}
        self.versions = {k: v.to_dict() for k, v in versions.items()}
        self.pseudonymizer = pseudonymizer if pseudonymizer is not None else Pseudonymizer.from_env()
        self.writer = writer
        self.wait_for_commit = wait_for_commit
        self.last: AppendResult | None = None  # the last record committed by record() (when it waits)
        self.pending: Future[AppendResult] | None = None  # the last record queued (with a writer)

    def record(self, decision: Mapping[str, Any]) -> None:
        entry = entry_from_decision(decision, versions=self.versions, pseudonymizer=self.pseudonymizer)
        if self.writer is None:
            self.last = append(self.store, entry)
            return
        self.pending = self.writer.submit(entry)
        if self.wait_for_commit:
            self.last = self.pending.result()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = ""

    def __bool__(self) -> bool:
        return self.ok


def iter_records(store: RecordStore, *, after_seq: int = 0) -> Iterator[dict[str, Any]]:
    """Every record after ``after_seq`` in seq order, as dicts with ``prev_hash`` and ``hash``."""
    with store.session() as s:
        rows = s.execute(select(AuditRecord).where(AuditRecord.seq > after_seq).order_by(AuditRecord.seq)
                         .execution_options(yield_per=500)).scalars()
        for row in rows:
            yield {**_record_dict(row), "prev_hash": row.prev_hash, "hash": row.hash}


def _check(rec: dict[str, Any], expected_seq: int, prev: str) -> str | None:
    if rec["seq"] != expected_seq:
        kind = "missing" if rec["seq"] > expected_seq else "out of order or duplicated"
        return f"seq {expected_seq} expected, found {rec['seq']} (record {kind})"
    if rec["prev_hash"] != prev:
        return "prev_hash does not match the previous record's hash (record removed, inserted or reordered)"
    if record_hash(rec["prev_hash"], rec) != rec["hash"]:
        return "content does not match its hash (record changed)"
    return None


def verify(store: RecordStore) -> VerifyResult:
    """Walk the chain from the purge anchor to the head; report the first record that does not hold."""
    with store.session() as s:
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
        anchor_seq, prev, head_seq, head_hash = head.anchor_seq, head.anchor_hash, head.seq, head.hash
    expected, checked = anchor_seq + 1, 0
    for rec in iter_records(store, after_seq=anchor_seq):
        try:
            reason = _check(rec, expected, prev)
        except (KeyError, TypeError, ValueError) as err:
            reason = f"record cannot be read ({err})"
        if reason:
            return VerifyResult(False, checked, expected, reason, head_seq, head_hash)
        prev, expected, checked = rec["hash"], expected + 1, checked + 1
    if (expected - 1, prev) != (head_seq, head_hash):
        reason = (f"chain ends at seq {expected - 1} but the head says {head_seq} "
                  "(records missing at the end, or the head was changed)")
        return VerifyResult(False, checked, min(expected, head_seq + 1), reason, head_seq, head_hash)
    return VerifyResult(True, checked, None, "", head_seq, head_hash)


def export(store: RecordStore, path: str | Path) -> int:
    """Write every record as one JSON line (hashed fields, prev_hash, hash); returns the count.

    Anyone can re-check an export: hash each line's HASHED_FIELDS after its prev_hash.
    """
    count = 0
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        for rec in iter_records(store):
            fh.write(canonical_json(rec) + "\n")
            count += 1
    return count
