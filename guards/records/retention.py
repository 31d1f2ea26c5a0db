"""Purge what the profile says must not be kept: pseudonymised IP fields, old audit records, images.

- Fields holding an IP-derived pseudonym (``ip:...`` or ``net:...``) older than
  ``data.ip_retention_days`` are set to NULL; rows whose key IS such a pseudonym and cannot exist
  without it (an acceptance or a strike of an IP-keyed anonymous user) are deleted.
- Audit records (format 2) whose user key is IP-derived have that key and its salt cleared once they
  are older than ``data.ip_retention_days``; the record keeps the salted commitment it is hashed over,
  so the chain still verifies (the append-only trigger allows exactly this update).
- Audit records older than the audit retention are dropped as a PREFIX of the chain. The default is
  ``AUDIT_RETENTION_MONTHS`` (7) calendar months: the six months in which a decision can be contested
  (DSA Art. 20(1), which the privacy notice promises to keep the records for) and a month's margin;
  ``audit_days`` replaces it. The head's anchor moves to the last dropped record's seq and hash first,
  in the same transaction, so ``verify`` still passes (and the append-only trigger allows deleting only
  at or below the anchor). Records written before format 2 that hold an IP-derived key cannot be
  cleared field by field: the prefix reaching up to the last of them older than ``ip_retention_days``
  is dropped, as before. The chain is verified before it is cut; a broken chain is never purged (that
  would hide the break).
- Flagged-image records older than ``data.prompt_retention_days`` are deleted.
- Each purge then appends its own audit record (action ``purge``, guard ``retention``) in the same
  transaction: what it cleared, deleted and dropped, its cutoffs, and the anchor it left. So the log
  shows when data was purged, and :func:`~.audit.verify` checks that the anchor is the one the last
  purge recorded: an anchor moved by hand, without a purge, breaks the chain's check.

``guards`` must not import ``generator``: the profile is read as data (a path, a mapping, or any object
with a ``data`` attribute such as the generator's ``Profile``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from clauseguard.errors import RecordsError, UserError
from clauseguard.guards.records._chain import CLEARABLE_KINDS, FORMAT, AuditEntry, append_in, prepare
from clauseguard.guards.records._types import aware_utc
from clauseguard.guards.records.audit import PURGE, verify
from clauseguard.guards.records.complaints import COMPLAINT_WINDOW_MONTHS, add_months
from clauseguard.guards.records.models import (
    Acceptance,
    AuditHead,
    AuditRecord,
    Complaint,
    Decision,
    FlaggedImage,
    Notice,
    Strike,
)
from clauseguard.guards.records.store import RecordStore

__all__ = ["AUDIT_RETENTION_MONTHS", "PurgeResult", "RetentionPolicy", "purge"]

DEFAULT_DAYS = 30  # the profile's own default for both retention periods
MAX_DAYS = 3650  # the profile's own bound
# audit records: the complaint window (DSA Art. 20(1), "at least six months" in the privacy notice) + 1
AUDIT_RETENTION_MONTHS = COMPLAINT_WINDOW_MONTHS + 1
_PROFILE_KEYS = ("operator", "product")  # what every profile.yaml has (the generator refuses one without)


@dataclass(frozen=True)
class RetentionPolicy:
    ip_days: int = DEFAULT_DAYS
    prompt_days: int = DEFAULT_DAYS

    @classmethod
    def from_profile(cls, profile: str | Path | Mapping[str, Any] | Any) -> RetentionPolicy:
        data = _profile_data(profile)
        where = f"{profile if isinstance(profile, str | Path) else 'profile'} data"
        return cls(_days(data, "ip_retention_days", where), _days(data, "prompt_retention_days", where))


def _days(data: Mapping[str, Any], key: str, where: str) -> int:
    """A retention period as the profile defines it: whole days from 0 to 3650 (not ``true``, ``"30"``,
    ``30.5`` or ``-5``, which would purge at a cutoff nobody chose)."""
    value = data.get(key, DEFAULT_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise UserError(f"must be whole days from 0 to {MAX_DAYS}, not {value!r}", where=f"{where}.{key}")
    return value


def _profile_data(profile: Any) -> Mapping[str, Any]:
    where = "profile.yaml data"
    if isinstance(profile, str | Path):
        path = str(profile)
        where = f"{path} data"
        try:
            profile = yaml.safe_load(Path(profile).read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:  # a ValueError, not an OSError: it escaped as a traceback
            raise UserError(f"cannot read profile: not UTF-8 text (byte {err.start})", where=path) from err
        except (OSError, yaml.YAMLError) as err:
            raise UserError(f"cannot read profile: {err}", where=path) from err
        missing = [k for k in _PROFILE_KEYS if not isinstance(profile, Mapping) or k not in profile]
        if missing:  # another file given by mistake (guards.yaml, an empty file): its defaults would purge
            raise UserError(f"not a profile: it has no {', '.join(missing)} (every profile.yaml has "
                            f"{', '.join(_PROFILE_KEYS)})", where=path)
    if isinstance(profile, Mapping):
        data = profile.get("data")
    else:
        data = getattr(profile, "data", None)
        data = data.model_dump() if hasattr(data, "model_dump") else data
    if data is None:  # no data section (or "data:" left empty): the profile's defaults apply
        return {}
    if not isinstance(data, Mapping):  # [], 0, false too: not read as "no data", which purges at the defaults
        raise UserError(f"profile key 'data' must be a mapping, not {data!r}", where=where)
    return data


@dataclass(frozen=True)
class PurgeResult:
    ip_fields_cleared: int
    rows_deleted: int
    audit_records_dropped: int
    images_deleted: int
    anchor_seq: int
    record_seq: int  # the purge's own audit record
    audit_keys_cleared: int = 0  # IP-derived user keys cleared from (format-2) audit records


def _ip_derived(column: InstrumentedAttribute[Any]) -> Any:
    return or_(column.like("ip:%"), column.like("net:%"))


# (nullable IP-bearing column, the row's time column)
_NULLABLE = ((Notice.notifier_ip_key, Notice.received_at), (Notice.uploader_key, Notice.received_at),
             (Decision.uploader_key, Decision.decided_at), (Complaint.complainant_key, Complaint.received_at),
             (FlaggedImage.user_key, FlaggedImage.flagged_at))


def _clear_ip_fields(s: Session, cutoff: datetime) -> tuple[int, int]:
    cleared = 0
    for column, when in _NULLABLE:
        cleared += s.execute(update(column.class_).where(when < cutoff, _ip_derived(column))
                             .values({column.key: None})).rowcount
    cleared += s.execute(update(Acceptance).where(Acceptance.accepted_at < cutoff, Acceptance.ip_key.is_not(None))
                         .values(ip_key=None)).rowcount
    deleted = s.execute(delete(Acceptance).where(Acceptance.accepted_at < cutoff,
                                                 _ip_derived(Acceptance.subject_key))).rowcount
    deleted += s.execute(delete(Strike).where(Strike.at < cutoff, _ip_derived(Strike.uploader_key))).rowcount
    return cleared, deleted


def _clear_audit_keys(s: Session, cutoff: datetime) -> int:
    """Clear the IP-derived user key, and its salt, of format-2 audit records older than ``cutoff``."""
    return s.execute(update(AuditRecord).where(
        AuditRecord.format == FORMAT, AuditRecord.time < _iso(cutoff), AuditRecord.user_key.is_not(None),
        AuditRecord.user_key_kind.in_(CLEARABLE_KINDS)).values(user_key=None, user_key_salt=None)).rowcount


def _drop_audit_prefix(s: Session, cutoff: datetime, ip_cutoff: datetime) -> tuple[int, int]:
    head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    stamp = cutoff.astimezone(UTC).isoformat(timespec="microseconds")
    first_kept = s.execute(select(func.min(AuditRecord.seq)).where(AuditRecord.seq > head.anchor_seq,
                                                                   AuditRecord.time >= stamp)).scalar_one()
    new_anchor = head.seq if first_kept is None else first_kept - 1
    # a format-1 record hashes its key itself: one holding an IP-derived key goes whole, with all before it
    last_legacy_ip = s.execute(select(func.max(AuditRecord.seq)).where(
        AuditRecord.seq > head.anchor_seq, AuditRecord.format.is_(None), AuditRecord.time < _iso(ip_cutoff),
        _ip_derived(AuditRecord.user_key))).scalar_one()
    new_anchor = max(new_anchor, last_legacy_ip or 0)
    if new_anchor <= head.anchor_seq:
        return 0, head.anchor_seq
    head.anchor_hash = s.execute(select(AuditRecord.hash).where(AuditRecord.seq == new_anchor)).scalar_one()
    head.anchor_seq = new_anchor
    s.flush()  # the trigger reads the new anchor before any row goes
    dropped = s.execute(delete(AuditRecord).where(AuditRecord.seq <= new_anchor)).rowcount
    return dropped, new_anchor


def purge(store: RecordStore, profile: str | Path | Mapping[str, Any] | Any, *, now: datetime | None = None,
          audit_days: int | None = None) -> PurgeResult:
    """Apply the profile's retention periods (see the module docstring). One transaction.

    Audit records are kept ``AUDIT_RETENTION_MONTHS`` calendar months, or ``audit_days`` when given
    (shorter than the six-month complaint window breaks what the privacy notice says); the IP-derived
    keys in them go after ``data.ip_retention_days`` whatever ``audit_days`` says.
    """
    policy = RetentionPolicy.from_profile(profile)
    if audit_days is not None:
        audit_days = _days({"audit_days": audit_days}, "audit_days", "purge")
    now = aware_utc(now, "now")
    check = verify(store)
    if not check.ok:
        where = "" if check.first_bad_seq is None else f" at seq {check.first_bad_seq}"
        raise RecordsError(f"audit chain is broken{where} ({check.reason}); not purging, which would hide the break")
    ip_cutoff = now - timedelta(days=policy.ip_days)
    audit_cutoff = (add_months(now, -AUDIT_RETENTION_MONTHS) if audit_days is None
                    else now - timedelta(days=audit_days))
    image_cutoff = now - timedelta(days=policy.prompt_days)
    with store.session(write=True) as s:
        cleared, deleted = _clear_ip_fields(s, ip_cutoff)
        dropped, anchor = _drop_audit_prefix(s, audit_cutoff, ip_cutoff)
        audit_keys = _clear_audit_keys(s, ip_cutoff)  # of the records kept
        images = s.execute(delete(FlaggedImage).where(FlaggedImage.flagged_at < image_cutoff)).rowcount
        anchor_hash = s.execute(select(AuditHead.anchor_hash).where(AuditHead.id == 1)).scalar_one()
        facts = {"kind": PURGE, "ip_fields_cleared": cleared, "audit_keys_cleared": audit_keys, "rows_deleted": deleted,
                 "audit_records_dropped": dropped, "images_deleted": images, "anchor_seq": anchor,
                 "anchor_hash": anchor_hash, "ip_cutoff": _iso(ip_cutoff), "audit_cutoff": _iso(audit_cutoff),
                 "image_cutoff": _iso(image_cutoff)}
        entry = AuditEntry(action=PURGE, allowed=True, guard_id="retention", findings=(facts,))
        (record,) = append_in(s.connection(), [prepare(entry)])  # written now, whatever `now` says
    return PurgeResult(cleared, deleted, dropped, images, anchor, record.seq, audit_keys)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")
