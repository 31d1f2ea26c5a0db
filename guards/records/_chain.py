"""The write side of the audit log: records, their hashes, and appending them to the chain.

A record is prepared (normalised and serialised) before any lock is taken, so a record that cannot be
stored (a raw IP in ``user_key``, a NaN score, a string with a lone surrogate) fails in the caller, never
inside a batch. Appending takes the chain's write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``SELECT ... FOR UPDATE`` on the head row), numbers and hashes the records in order, inserts them and
moves the head once: one transaction per call, whether it carries one record or a thousand.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from clauseguard.guards.records._types import aware_utc, check_user_key
from clauseguard.guards.records.models import AuditHead, AuditRecord
from clauseguard.guards.records.store import RecordStore

__all__ = [
    "CLEARABLE_KINDS",
    "FORMAT",
    "HASHED_FIELDS",
    "HASHED_FIELDS_V2",
    "STORED_FIELDS",
    "AppendResult",
    "AuditEntry",
    "PreparedRecord",
    "append",
    "append_in",
    "append_many",
    "canonical_json",
    "find_appended",
    "hashed_fields",
    "key_commit",
    "key_kind",
    "key_problem",
    "prepare",
    "record_hash",
]

# format 1 (``format`` NULL: records written before format 2) hashes the user key itself
HASHED_FIELDS = ("seq", "time", "request_id", "stage", "guard_id", "action", "allowed", "score", "clause_ids",
                 "document_versions", "findings", "user_key")
# format 2 hashes a salted commitment to the user key instead, so the key (with its salt) can be cleared
HASHED_FIELDS_V2 = (*HASHED_FIELDS[:-1], "format", "user_key_kind", "user_key_commit")
STORED_FIELDS = (*HASHED_FIELDS, "format", "user_key_kind", "user_key_commit", "user_key_salt")
JSON_FIELDS = ("clause_ids", "document_versions", "findings")
FORMAT = 2  # the format new records are written in
CLEARABLE_KINDS = ("ip", "net")  # IP-derived keys: a purge clears them after ip_retention_days
_KINDS = ("ip", "net", "user")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8, no NaN: the same bytes on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def hashed_fields(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The fields ``record`` is hashed over: by its ``format`` (absent or None: format 1)."""
    return HASHED_FIELDS_V2 if record.get("format") == FORMAT else HASHED_FIELDS


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of the hashed fields of record)`` (see :func:`hashed_fields`)."""
    body = canonical_json({k: record[k] for k in hashed_fields(record)})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def key_kind(user_key: str) -> str:
    """What a user key is derived from: ``ip``/``net`` (an IP address), ``user`` (an account), else ``other``."""
    prefix = user_key.partition(":")[0]
    return prefix if prefix in _KINDS else "other"


def key_commit(salt: str, user_key: str) -> str:
    """``HMAC-SHA256(key=bytes.fromhex(salt), msg=user_key as UTF-8)``, hex: what format 2 hashes."""
    return hmac.new(bytes.fromhex(salt), user_key.encode("utf-8"), hashlib.sha256).hexdigest()


def key_problem(record: Mapping[str, Any]) -> str | None:
    """Why the user key of a format-2 ``record`` does not hold (None: it holds, or it was cleared as a
    purge clears it: key and salt gone, an IP-derived kind). Format 1 hashes the key itself. Whether a
    purge did clear it, after the IP retention, needs the rest of the chain: :func:`~.audit.verify`
    checks that a purge recorded after the record had an IP cutoff past its time."""
    if record.get("format") != FORMAT:
        return None
    key, salt, kind, commit = (record.get(k) for k in ("user_key", "user_key_salt", "user_key_kind",
                                                        "user_key_commit"))
    if key is None:
        if salt is not None:
            return "user_key_salt without user_key (record changed)"
        if commit is not None and kind not in CLEARABLE_KINDS:
            return f"user key of kind {kind!r} removed: only IP-derived keys are cleared by a purge (record changed)"
        return None
    if salt is None or commit is None or not hmac.compare_digest(key_commit(salt, key), commit):
        return "user_key does not match its commitment (record changed)"
    if key_kind(key) != kind:
        return f"user_key is of kind {key_kind(key)!r}, the record says {kind!r} (record changed)"
    return None


@dataclass(frozen=True)
class AuditEntry:
    """What the caller supplies for one record (seq, time and hashes are assigned on append)."""

    action: str
    allowed: bool
    request_id: str | None = None
    stage: str | None = None
    guard_id: str | None = None
    score: float | None = None
    clause_ids: tuple[str, ...] = ()
    document_versions: Mapping[str, Mapping[str, str]] | None = None
    findings: tuple[Mapping[str, Any], ...] = ()
    user_key: str | None = None


@dataclass(frozen=True)
class AppendResult:
    seq: int
    hash: str
    time: str


@dataclass(frozen=True)
class PreparedRecord:
    """A record with everything but its place in the chain (seq, prev_hash, hash)."""

    fields: Mapping[str, Any]  # the hashed fields except seq, as they are hashed

    def chained(self, seq: int, prev_hash: str) -> tuple[dict[str, Any], str]:
        """The row to insert at ``seq`` after ``prev_hash``, and its hash."""
        rec = {"seq": seq, **self.fields}
        digest = record_hash(prev_hash, rec)
        row = {k: canonical_json(rec[k]) if k in JSON_FIELDS else rec[k] for k in STORED_FIELDS if k in rec}
        return {**row, "prev_hash": prev_hash, "hash": digest}, digest

    def at(self, when: datetime) -> PreparedRecord:
        """The same record at another time (a writer stamps records as it queues them)."""
        return PreparedRecord({**self.fields, "time": _iso(when)})


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def prepare(entry: AuditEntry, now: datetime | None = None) -> PreparedRecord:
    """Normalise ``entry`` at time ``now`` (default: now, UTC); raises what storing it would raise.

    ``RawIpError`` for a raw IP in ``user_key``; ``ValueError`` naming the field for a value JSON or
    UTF-8 cannot carry (NaN, a lone surrogate such as ``"\\ud800"``), ``TypeError`` for one that is not JSON.
    """
    fields = {
        "time": _iso(aware_utc(now, "now")),
        "request_id": entry.request_id, "stage": entry.stage, "guard_id": entry.guard_id,
        "action": entry.action, "allowed": bool(entry.allowed),
        "score": None if entry.score is None else round(float(entry.score), 4),
        "clause_ids": sorted(set(entry.clause_ids)),
        "document_versions": {k: dict(v) for k, v in (entry.document_versions or {}).items()},
        "findings": [dict(f) for f in entry.findings],
        **_user_key_fields(check_user_key(entry.user_key)),
    }
    for name, value in fields.items():  # fails here, in the caller, rather than inside a batch
        _check_storable(name, value)
    return PreparedRecord(fields)


def _user_key_fields(user_key: str | None) -> dict[str, Any]:
    """Format 2: the key, a fresh random salt, and the kind and salted commitment that are hashed."""
    salt = None if user_key is None else secrets.token_hex(16)
    return {"format": FORMAT, "user_key": user_key, "user_key_salt": salt,
            "user_key_kind": None if user_key is None else key_kind(user_key),
            "user_key_commit": None if user_key is None or salt is None else key_commit(salt, user_key)}


@functools.cache
def _max_length(name: str) -> int | None:
    """The length of ``name``'s string column in audit_log (None when it has none)."""
    column = AuditRecord.__table__.c.get(name)
    kind = getattr(column, "type", None)
    return getattr(kind, "length", None) or getattr(getattr(kind, "impl", None), "length", None)


def _check_storable(name: str, value: Any) -> None:
    """Raise unless ``value`` serialises to canonical JSON and that encodes as UTF-8 (as it is hashed), and
    a string fits its column: PostgreSQL refuses a longer one (SQLite would keep it), and in a writer's
    batch that happens after the verdict was given."""
    limit = _max_length(name)
    if isinstance(value, str) and limit is not None and len(value) > limit:
        raise ValueError(f"audit record field {name!r} cannot be stored: {len(value)} characters, longer than "
                         f"its column ({limit})")
    try:
        canonical_json(value).encode("utf-8")
    except ValueError as err:  # NaN/inf, or a lone surrogate (UnicodeEncodeError)
        raise ValueError(f"audit record field {name!r} cannot be stored: {err}") from err
    except TypeError as err:
        raise TypeError(f"audit record field {name!r} cannot be stored: {err}") from err


def append_many(store: RecordStore, records: Sequence[PreparedRecord | AuditEntry], *,
                now: datetime | None = None) -> list[AppendResult]:
    """Append ``records`` in order, in ONE transaction; returns after the commit.

    Either every record is durable when this returns, or none was written (the chain never holds
    half a batch). ``AuditEntry`` items are prepared at ``now``; prepared ones keep their own time.
    Records are expected in time order, since a purge drops the prefix older than the retention period.
    """
    prepared = [r if isinstance(r, PreparedRecord) else prepare(r, now) for r in records]
    if not prepared:
        return []
    with store.transaction(write=True) as conn:
        return append_in(conn, prepared)


def append_in(conn: Connection, prepared: Sequence[PreparedRecord]) -> list[AppendResult]:
    """Append ``prepared`` in the caller's write transaction on ``conn`` (a purge records itself so)."""
    results: list[AppendResult] = []
    rows: list[dict[str, Any]] = []
    log, head = AuditRecord.__table__, AuditHead.__table__
    seq, prev = conn.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).one()
    for record in prepared:
        seq += 1
        row, prev = record.chained(seq, prev)
        rows.append(row)
        results.append(AppendResult(seq, prev, row["time"]))
    conn.execute(log.insert(), rows)
    conn.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev))
    return results


def find_appended(conn: Connection, prepared: Sequence[PreparedRecord], *, after: int = 0) -> list[AppendResult] | None:
    """The results of ``prepared`` if the log already holds them, in order and one after another, above
    seq ``after``; else None.

    For a retry after an append that reported a failure: when the connection drops after COMMIT reached
    the database, the transaction is committed but the client sees an error, and writing the batch again
    would log every decision twice. A stored record is this one if its hash, recomputed from this
    record's fields at the stored seq after the stored ``prev_hash``, is the stored hash.
    """
    if not prepared:
        return []
    log = AuditRecord.__table__
    first_time = prepared[0].fields["time"]
    starts = conn.execute(select(log.c.seq).where(log.c.seq > after, log.c.time == first_time)
                          .order_by(log.c.seq)).scalars().all()
    for start in starts:
        rows = conn.execute(select(log.c.seq, log.c.prev_hash, log.c.hash)
                            .where(log.c.seq >= start, log.c.seq < start + len(prepared)).order_by(log.c.seq)).all()
        results: list[AppendResult] = []
        for record, (seq, prev, digest) in zip(prepared, rows, strict=False):
            if record.chained(seq, prev)[1] != digest or (results and prev != results[-1].hash):
                break
            results.append(AppendResult(seq, digest, record.fields["time"]))
        if len(results) == len(prepared):
            return results
    return None


def append(store: RecordStore, entry: AuditEntry, *, now: datetime | None = None) -> AppendResult:
    """Append one record; returns after the commit (so the record is durable when this returns).

    ``now`` overrides the record time (imports, tests). Many records at once: :func:`append_many`, or
    an :class:`~clauseguard.guards.records.writer.AuditWriter` for group commit.
    """
    return append_many(store, [entry], now=now)[0]
