"""The audit log: an append-only, hash-chained record of every guard decision.

Each record's ``hash`` is ``sha256(prev_hash + canonical JSON of the record)``, where the record holds
its own ``seq`` (and, in format 2, a salted commitment to its user key instead of the key, so a purge
can clear an IP-derived key and its salt: see :mod:`._chain`); ``audit_head`` (one row, written in the
same transaction as each append) keeps the last seq and hash, and the anchor a purge left. So
:func:`verify` finds a changed field, a removed, inserted or reordered record, a gap in seq, and a
truncated tail; records still present at or below the anchor (a purge leaves none) must chain up to it.
It reads head and records in one snapshot, so it may run while others append. Appends are serialised
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``SELECT ... FOR UPDATE`` on the head row), so the chain never
forks; see :mod:`._chain` for appending and :mod:`.writer`
for group commit (many records per transaction).

Each purge appends a record of its own naming the anchor it left, and :func:`verify` holds the anchor
to the last one, so an anchor moved by hand shows. Limits: the chain is unkeyed, and triggers only stop
honest mistakes and casual edits: someone who can write the database can drop them, move the anchor
forward, delete everything below it and append a purge record of their own (it looks like a purge, at
a time nobody purged), or rebuild the whole chain and the head. Keep a copy of the head AND the anchor (``verify``
returns both) outside the database: a later verify must show the same chain extended, and an anchor
that only moved when you purged.
"""

from __future__ import annotations

import json
import os
import secrets
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauseguard.errors import RecordsError, UserError
from clauseguard.guards.records._chain import (
    FORMAT,
    HASHED_FIELDS,
    HASHED_FIELDS_V2,
    JSON_FIELDS,
    STORED_FIELDS,
    AppendResult,
    AuditEntry,
    append,
    append_many,
    canonical_json,
    key_problem,
    record_hash,
)
from clauseguard.guards.records.lockfile import DocumentVersion, check_same_profile, document_versions
from clauseguard.guards.records.models import GENESIS_HASH, AuditHead, AuditRecord
from clauseguard.guards.records.pseudonym import Pseudonymizer
from clauseguard.guards.records.store import RecordStore

if TYPE_CHECKING:
    from concurrent.futures import Future

    from clauseguard.guards.records.writer import AuditWriter

__all__ = [
    "HASHED_FIELDS",
    "HASHED_FIELDS_V2",
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
PURGE = "purge"  # the action of the record each purge appends (see .retention)


def _record_dict(row: AuditRecord) -> dict[str, Any]:
    out = {k: getattr(row, k) for k in STORED_FIELDS}
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
    force (the sha256 of each rendered document); ``report`` matters only for an older lock without a
    ``documents`` list, where it narrows each document's hash to its own clauses. ``guards`` (the path of
    the guards.yaml whose decisions this sink records, or its dict) is compared with them: files stamped
    with different ``profile_sha256`` are a :class:`GuardConfigError` naming each file and its hash, as
    ``clauseguard serve`` refuses them (records would cite the clauses of one profile with the documents
    of another); :meth:`check_guards` compares a guards.yaml later. A decision may carry
    ``user_key`` (an account id) or ``ip``: they are pseudonymised with ``pseudonymizer`` (by default
    from ``CLAUSEGUARD_PSEUDONYM_KEYS``) before anything is stored.

    Without ``writer`` each decision is one transaction, committed before :meth:`record` returns. With
    an :class:`~clauseguard.guards.records.writer.AuditWriter`, decisions are group-committed; with
    ``wait_for_commit=False`` :meth:`record` returns once the record is queued (durable within the
    writer's ``max_wait`` plus one commit), otherwise once its batch is committed, or raises
    :class:`RecordsError` after ``commit_timeout`` seconds (the database unreachable: the decision fails
    closed instead of holding its thread for ever; the record stays queued and is written when it answers).
    """

    def __init__(self, store: RecordStore, *, lock: str | Path | Mapping[str, Any] | None = None,
                 report: str | Path | Mapping[str, Any] | None = None,
                 guards: str | Path | Mapping[str, Any] | None = None,
                 pseudonymizer: Pseudonymizer | None = None, writer: AuditWriter | None = None,
                 wait_for_commit: bool = True, commit_timeout: float | None = 30.0) -> None:
        check_same_profile(guards=guards, lock=lock, report=report)
        self.store = store
        self.lock, self.report = lock, report  # what check_guards compares a guards.yaml with
        versions: dict[str, DocumentVersion] = document_versions(lock, report) if lock is not None else {}
        self.versions = {k: v.to_dict() for k, v in versions.items()}
        self.pseudonymizer = pseudonymizer if pseudonymizer is not None else Pseudonymizer.from_env()
        self.writer = writer
        self.wait_for_commit = wait_for_commit
        self.commit_timeout = commit_timeout
        self.last: AppendResult | None = None  # the last record committed by record() (when it waits)
        self.pending: Future[AppendResult] | None = None  # the last record queued (with a writer)

    def check_guards(self, guards: str | Path | Mapping[str, Any]) -> None:
        """A :class:`GuardConfigError` when ``guards`` (guards.yaml or its dict) was generated from another
        profile than this sink's ``lock`` and ``report``, naming each file and its ``profile_sha256``."""
        check_same_profile(guards=guards, lock=self.lock, report=self.report)

    def record(self, decision: Mapping[str, Any]) -> None:
        entry = entry_from_decision(decision, versions=self.versions, pseudonymizer=self.pseudonymizer)
        if self.writer is None:
            self.last = append(self.store, entry)
            return
        self.pending = self.writer.submit(entry)
        if self.wait_for_commit:
            try:
                self.last = self.pending.result(self.commit_timeout)
            except FutureTimeoutError as err:
                raise RecordsError(f"audit record not committed within {self.commit_timeout} s; it stays queued "
                                   f"(last error: {self.writer.last_error})") from err


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found. Keep ``head_seq``/``head_hash`` AND ``anchor_seq``/``anchor_hash``
    outside the database: a later head must extend that chain, and the anchor may only move forward."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = ""
    anchor_seq: int = 0
    anchor_hash: str = GENESIS_HASH

    def __bool__(self) -> bool:
        return self.ok


@contextmanager
def _snapshot(store: RecordStore) -> Iterator[Session]:
    """One read transaction whose statements all see the same committed state of the database.

    SQLite (WAL) keeps the snapshot of the first read until the transaction ends; PostgreSQL needs
    REPEATABLE READ for that (its default, READ COMMITTED, takes a new snapshot per statement).
    """
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=conn) as session, session.begin():
            yield session


def _rows(s: Session, *, after_seq: int = 0, upto_seq: int | None = None) -> Iterator[AuditRecord]:
    query = select(AuditRecord).where(AuditRecord.seq > after_seq)
    if upto_seq is not None:
        query = query.where(AuditRecord.seq <= upto_seq)
    yield from s.execute(query.order_by(AuditRecord.seq).execution_options(yield_per=500)).scalars()


def _decoded(row: AuditRecord) -> dict[str, Any]:
    """The record as a dict with ``prev_hash`` and ``hash``; ``ValueError`` when a JSON column is not JSON."""
    return {**_record_dict(row), "prev_hash": row.prev_hash, "hash": row.hash}


def iter_records(store: RecordStore, *, after_seq: int = 0) -> Iterator[dict[str, Any]]:
    """Every record after ``after_seq`` in seq order, as dicts with ``prev_hash`` and ``hash``.

    A record that cannot be decoded (a column that is not JSON) is a :class:`RecordsError` naming its seq.
    """
    with _snapshot(store) as s:
        for row in _rows(s, after_seq=after_seq):
            try:
                yield _decoded(row)
            except ValueError as err:
                raise RecordsError(f"audit record seq {row.seq} cannot be read ({err}): run "
                                   "clauseguard audit verify") from err


def _check(rec: dict[str, Any], expected_seq: int, prev: str | None) -> str | None:
    """Why ``rec`` does not hold at ``expected_seq`` after ``prev`` (None: its predecessor is purged)."""
    if rec["seq"] != expected_seq:
        kind = "missing" if rec["seq"] > expected_seq else "out of order or duplicated"
        return f"seq {expected_seq} expected, found {rec['seq']} (record {kind})"
    if prev is not None and rec["prev_hash"] != prev:
        return "prev_hash does not match the previous record's hash (record removed, inserted or reordered)"
    if record_hash(rec["prev_hash"], rec) != rec["hash"]:
        return "content does not match its hash (record changed)"
    return key_problem(rec)


def _walk(records: Iterator[AuditRecord], expected: int,
          prev: str | None) -> tuple[int, str | None, int, tuple[int, str] | None]:
    """Check ``records`` in order from seq ``expected`` after ``prev``.

    Returns the next expected seq, the last hash, the number checked, and the first failure (seq, why).
    A record is decoded here, so one whose JSON columns are not JSON is a failure at its seq.
    """
    checked = 0
    for row in records:
        if prev is None and checked == 0:
            expected = row.seq  # the first record left below the anchor: its predecessor is gone
            prev = GENESIS_HASH if expected == 1 else None
        try:
            rec = _decoded(row)
            reason = _check(rec, expected, prev)
        except (KeyError, TypeError, ValueError) as err:
            reason = f"record cannot be read ({err})"
        if reason:
            return expected, prev, checked, (expected, reason)
        prev, expected, checked = rec["hash"], expected + 1, checked + 1
    return expected, prev, checked, None


def _check_below_anchor(s: Session, anchor_seq: int, anchor_hash: str) -> tuple[int, tuple[int, str] | None]:
    """Records still present at or below the purge anchor must chain up to ``anchor_hash``.

    A purge deletes everything up to the anchor, so normally there are none; records there mean the
    anchor was moved without a purge (which made them deletable), and they must still hold.
    """
    records = _rows(s, upto_seq=anchor_seq)
    expected, last, checked, bad = _walk(records, 0, None)
    if bad is None and checked and (expected - 1, last) != (anchor_seq, anchor_hash):
        bad = (expected, f"the records at or below the purge anchor end at seq {expected - 1}, which is not "
                         f"the anchor (seq {anchor_seq}); the anchor was moved or records were removed")
    return checked, bad


def _check_last_purge(s: Session, anchor_seq: int, anchor_hash: str, head_seq: int) -> tuple[int, str] | None:
    """The anchor must be the one the last purge recorded. A purge appends its record after the anchor
    it leaves, so an anchor past the genesis with no purge record after it was moved by hand (the
    triggers allow moving it forward onto any record, which makes the records below it deletable)."""
    row = s.execute(select(AuditRecord).where(AuditRecord.action == PURGE, AuditRecord.seq > anchor_seq,
                                              AuditRecord.seq <= head_seq)
                    .order_by(AuditRecord.seq.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        if anchor_seq == 0:
            return None
        return anchor_seq, (f"the purge anchor is seq {anchor_seq}, but no purge record after it names it: "
                            "the anchor was moved without a purge")
    try:
        facts = (_record_dict(row)["findings"] or [{}])[0]
        named = (facts.get("anchor_seq"), facts.get("anchor_hash"))
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        return row.seq, f"record cannot be read ({err})"
    if named != (anchor_seq, anchor_hash):
        return row.seq, (f"the purge anchor is seq {anchor_seq}, but the last purge (record {row.seq}) left it at "
                         f"seq {facts.get('anchor_seq')}: the anchor was moved without a purge")
    return None


def _purge_cutoffs(s: Session, head_seq: int) -> tuple[list[tuple[int, datetime]], tuple[int, str] | None]:
    """Each purge record up to the head: its seq, and the cutoff before which it cleared IP-derived user
    keys (its ``ip_cutoff``, at most its own time; a purge record without one, from before purges noted
    it, counts up to its own time); and the first that cannot be read (seq, why)."""
    rows = s.execute(select(AuditRecord).where(AuditRecord.action == PURGE, AuditRecord.seq <= head_seq)
                     .order_by(AuditRecord.seq)).scalars()
    cutoffs = []
    for row in rows:
        try:
            facts = (_record_dict(row)["findings"] or [{}])[0]
            own_time = datetime.fromisoformat(row.time)  # a cutoff past it is not one a purge chose
            cutoffs.append((row.seq, min(datetime.fromisoformat(facts.get("ip_cutoff") or row.time), own_time)))
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            return cutoffs, (row.seq, f"record cannot be read ({err})")
    return cutoffs, None


def _check_cleared_keys(s: Session, head_seq: int) -> tuple[int, str] | None:
    """A format-2 record's IP-derived user key may only be cleared by a purge: a purge recorded after it
    whose IP cutoff is past its time. The triggers let anyone who can write the table clear such a key
    at any time, so a key cleared without one (days early, say) is a break, as format 1 would show it.
    Like the anchor, this trusts the purge records: someone who appends a purge record of their own (it
    shows in the log, at a time nobody purged) can vouch for clearing keys of records before it."""
    purges, bad = _purge_cutoffs(s, head_seq)
    if bad:
        return bad
    latest: list[datetime] = []  # latest[i]: the latest cutoff of purges[i:]
    for _seq, cutoff in reversed(purges):
        latest.insert(0, max(cutoff, latest[0]) if latest else cutoff)
    seqs = [seq for seq, _cutoff in purges]
    cleared = s.execute(select(AuditRecord.seq, AuditRecord.time, AuditRecord.user_key_kind).where(
        AuditRecord.format == FORMAT, AuditRecord.user_key.is_(None), AuditRecord.user_key_commit.is_not(None),
        AuditRecord.seq <= head_seq).order_by(AuditRecord.seq).execution_options(yield_per=500))
    for seq, time, kind in cleared:
        after = bisect_right(seqs, seq)
        try:
            ok = after < len(seqs) and datetime.fromisoformat(time) < latest[after]
        except (TypeError, ValueError) as err:
            return seq, f"record cannot be read ({err})"
        if not ok:
            return seq, (f"user key of kind {kind!r} cleared, but no purge recorded after this record cleared "
                         f"keys of its time ({time}): cleared by hand, before the IP retention ended (record changed)")
    return None


def verify(store: RecordStore) -> VerifyResult:
    """Walk the chain to the head; report the first record that does not hold.

    Head, anchor and records are read in one snapshot, and records appended after it are not looked
    at, so verifying a store that is being written to is sound. Records after the purge anchor must
    chain from the anchor to the head; records still present at or below it must chain up to it;
    the anchor must be the one the last purge record names; and a format-2 record's IP-derived user key
    may be cleared only when a purge recorded after it had an IP cutoff past its time.
    """
    with _snapshot(store) as s:
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
        if head is None:  # the triggers forbid deleting it: only someone who dropped them could
            return VerifyResult(False, 0, None, "audit_head row missing")
        anchor_seq, anchor_hash, head_seq, head_hash = head.anchor_seq, head.anchor_hash, head.seq, head.hash
        last_seq = s.execute(select(func.max(AuditRecord.seq))).scalar_one() or 0

        def result(ok: bool, checked: int, bad: tuple[int, str] | None = None) -> VerifyResult:
            seq, reason = bad if bad else (None, "")
            return VerifyResult(ok, checked, seq, reason, head_seq, head_hash, anchor_seq, anchor_hash)

        below, bad = _check_below_anchor(s, anchor_seq, anchor_hash)
        if bad:
            return result(False, below, bad)
        expected, prev, checked, bad = _walk(_rows(s, after_seq=anchor_seq, upto_seq=head_seq),
                                             anchor_seq + 1, anchor_hash)
        if bad is None:
            bad = _check_last_purge(s, anchor_seq, anchor_hash, head_seq)
        if bad is None:
            bad = _check_cleared_keys(s, head_seq)
    if bad:
        return result(False, below + checked, bad)
    if (expected - 1, prev) != (head_seq, head_hash):
        reason = (f"chain ends at seq {expected - 1} but the head says {head_seq} "
                  "(records missing at the end, or the head was changed)")
        return result(False, below + checked, (min(expected, head_seq + 1), reason))
    if last_seq > head_seq:  # appends commit the head with their records, so no snapshot shows this
        reason = (f"records after the head (up to seq {last_seq}; the head says {head_seq}): inserted past the "
                  "head, or the head was moved back; the next append would fail on that seq")
        return result(False, below + checked, (head_seq + 1, reason))
    return result(True, below + checked)


def export(store: RecordStore, path: str | Path) -> int:
    """Write every record as one JSON line (hashed fields, prev_hash, hash); returns the count.

    The file is written beside ``path`` under a temporary name, flushed to disk and renamed over
    ``path``: a failure (disk full) leaves the previous export as it was and no partial file. A
    symlink is followed: its target is written and the link stays. Refused (:class:`UserError`): an
    empty path, one that exists and is not a regular file, and the store's own SQLite file or its
    ``-wal``, ``-shm`` and ``-journal`` files (the rename would replace the database with the export).
    Anyone can re-check an export: hash each line's HASHED_FIELDS (HASHED_FIELDS_V2 when its ``format``
    is 2) after its prev_hash, and for format 2 check ``user_key_commit`` against a ``user_key`` still there.
    """
    target = _export_target(store, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to any file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            count = _write_lines(store, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _export_target(store: RecordStore, path: str | Path) -> Path:
    """Where :func:`export` may rename its file to: ``path`` with symlinks resolved, checked."""
    if not str(path).strip():
        raise UserError("the output path is empty: name the JSON lines file to write")
    target = Path(path).resolve()
    if target.exists() and not target.is_file():
        raise UserError("is not a regular file (a folder, device or pipe): name a file to write",
                        where=str(path))
    database = store.sqlite_path
    if database is not None:
        for own in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))):
            if target == own or (target.exists() and own.exists() and os.path.samefile(target, own)):
                raise UserError(f"is the record store's own file {own}: the export would replace it",
                                where=str(path))
    return target


def _write_lines(store: RecordStore, fh: IO[str]) -> int:
    count = 0
    for rec in iter_records(store):
        fh.write(canonical_json(rec) + "\n")
        count += 1
    return count
