"""Records: the audit log, notices and takedowns, acceptances (SQLAlchemy; SQLite by default).

Everything here is importable without a database: :meth:`RecordStore.open` connects and migrates.
Entry points, by task:

- audit log: :class:`AuditSink` (a ``DecisionSink`` for :class:`~clauseguard.guards.Pipeline`),
  :func:`append`, :func:`append_many` (one transaction), :class:`AuditWriter` (group commit from a
  background thread), :func:`verify`, :func:`export`;
- privacy: :class:`Pseudonymizer` (``CLAUSEGUARD_PSEUDONYM_KEYS``), :func:`purge`,
  :func:`record_flagged_image` (hashes only);
- notices: :class:`DsaNotice`, :class:`DmcaNotice`, :class:`TakeItDownRequest`, :func:`file_notice`,
  :func:`notice_queue`, :func:`decide` (Art. 17 statement of reasons), :func:`file_counter_notice`,
  :func:`repeat_infringer_status`, :func:`retract_notice`, :func:`file_complaint`, :func:`record_informed`,
  :func:`transparency_report`; an unknown
  reference raises :class:`NoticeNotFound` (a ``NoticeError`` and a ``LookupError``);
- acceptances: :func:`record_acceptance`, :func:`needs_acceptance`, :func:`document_versions`.
"""

from clauseguard.errors import NoticeError, NoticeNotFound, PseudonymKeyError, RawIpError, RecordsError
from clauseguard.guards.records.acceptances import accepted, needs_acceptance, record_acceptance
from clauseguard.guards.records.audit import (
    AppendResult,
    AuditEntry,
    AuditSink,
    VerifyResult,
    append,
    append_many,
    export,
    iter_records,
    verify,
)
from clauseguard.guards.records.complaints import file_complaint, record_informed, resolve_complaint
from clauseguard.guards.records.dmca import (
    CounterNoticeAck,
    RepeatInfringerStatus,
    file_counter_notice,
    mark_restored,
    record_strike,
    repeat_infringer_status,
    report_court_action,
    restore_due,
    restore_window,
)
from clauseguard.guards.records.images import find_flagged, record_flagged_image
from clauseguard.guards.records.intake import DmcaCounterNotice, DmcaNotice, DsaNotice, TakeItDownRequest
from clauseguard.guards.records.lockfile import DocumentVersion, clause_section, document_versions
from clauseguard.guards.records.notices import (
    Acknowledgement,
    file_notice,
    get_notice,
    notice_queue,
    parse_notice,
    retract_notice,
)
from clauseguard.guards.records.pseudonym import Pseudonymizer, truncate_ip
from clauseguard.guards.records.retention import PurgeResult, RetentionPolicy, purge
from clauseguard.guards.records.statements import Restriction, StatementOfReasons, decide, get_decision
from clauseguard.guards.records.store import DEFAULT_URL, RecordStore
from clauseguard.guards.records.transparency import transparency_report
from clauseguard.guards.records.writer import AuditWriter

__all__ = [
    "DEFAULT_URL",
    "Acknowledgement",
    "AppendResult",
    "AuditEntry",
    "AuditSink",
    "AuditWriter",
    "CounterNoticeAck",
    "DmcaCounterNotice",
    "DmcaNotice",
    "DocumentVersion",
    "DsaNotice",
    "NoticeError",
    "NoticeNotFound",
    "PseudonymKeyError",
    "Pseudonymizer",
    "PurgeResult",
    "RawIpError",
    "RecordStore",
    "RecordsError",
    "RepeatInfringerStatus",
    "Restriction",
    "RetentionPolicy",
    "StatementOfReasons",
    "TakeItDownRequest",
    "VerifyResult",
    "accepted",
    "append",
    "append_many",
    "clause_section",
    "decide",
    "document_versions",
    "export",
    "file_complaint",
    "file_counter_notice",
    "file_notice",
    "find_flagged",
    "get_decision",
    "get_notice",
    "iter_records",
    "mark_restored",
    "needs_acceptance",
    "notice_queue",
    "parse_notice",
    "purge",
    "record_acceptance",
    "record_flagged_image",
    "record_informed",
    "record_strike",
    "repeat_infringer_status",
    "report_court_action",
    "resolve_complaint",
    "restore_due",
    "restore_window",
    "retract_notice",
    "transparency_report",
    "truncate_ip",
    "verify",
]
