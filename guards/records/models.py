"""The tables of the record store (SQLAlchemy 2.0 declarative models).

The schema itself is created by the alembic migrations in ``migrations/versions``; these models must
match them (a test compares the two). Pseudonymised fields use :class:`UserKeyType` (no raw IP can be
bound), image fields use :class:`HashType` (no pixels), times use :class:`UTCDateTime`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from clauseguard.guards.records._types import HashType, UserKeyType, UTCDateTime, check_user_key

__all__ = [
    "Acceptance",
    "ApiToken",
    "AuditHead",
    "AuditRecord",
    "Base",
    "Complaint",
    "CounterNotice",
    "Decision",
    "FlaggedImage",
    "Notice",
    "Strike",
]

GENESIS_HASH = "0" * 64


class Base(DeclarativeBase):
    pass


class _KeyChecks:
    """Model-level check: pseudonymised fields refuse raw IP addresses as soon as they are set."""

    @validates("user_key", "ip_key", "subject_key", "uploader_key", "notifier_ip_key", "complainant_key")
    def _no_raw_ip(self, key: str, value: str | None) -> str | None:
        return check_user_key(value, field=key)


class AuditRecord(_KeyChecks, Base):
    """One guard decision; ``hash = sha256(prev_hash + canonical JSON of the hashed fields)``.

    Format 2 (``format`` = 2) hashes ``user_key_kind`` and ``user_key_commit`` (an HMAC of ``user_key``
    keyed by ``user_key_salt``) instead of ``user_key``, so a purge can clear an IP-derived key and its
    salt; older records (``format`` NULL) hash ``user_key`` itself. See ``_chain``.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(40))  # UTC ISO 8601, part of the hashed record
    request_id: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str | None] = mapped_column(String(20))
    guard_id: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    allowed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Float)
    clause_ids: Mapped[str] = mapped_column(Text)  # canonical JSON list
    document_versions: Mapped[str] = mapped_column(Text)  # canonical JSON {doc id: "version@sha256"}
    findings: Mapped[str] = mapped_column(Text)  # canonical JSON list (no content, no replacement)
    user_key: Mapped[str | None] = mapped_column(UserKeyType())
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    format: Mapped[int | None] = mapped_column(Integer)  # None: format 1 (user_key hashed as it is)
    user_key_kind: Mapped[str | None] = mapped_column(String(10))  # "ip" | "net" | "user" | "other"
    user_key_commit: Mapped[str | None] = mapped_column(String(64))  # HMAC-SHA256(salt, user_key), hex
    user_key_salt: Mapped[str | None] = mapped_column(String(32))  # 16 random bytes, hex; cleared with the key


class AuditHead(Base):
    """One row (id 1): the last seq/hash written, and the anchor left by the last purge."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    anchor_seq: Mapped[int] = mapped_column(Integer, default=0)
    anchor_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class Notice(_KeyChecks, Base):
    """A notice (DSA Art. 16), a DMCA notification (§512(c)(3)) or a TAKE IT DOWN removal request."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    regime: Mapped[str] = mapped_column(String(20), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    locations: Mapped[list[str]] = mapped_column(JSON)
    uploader_key: Mapped[str | None] = mapped_column(UserKeyType())
    notifier_ip_key: Mapped[str | None] = mapped_column(UserKeyType())
    retracted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # status "retracted" since then


class Decision(_KeyChecks, Base):
    """A decision on a notice (or on own initiative) with its DSA Art. 17 statement of reasons."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), index=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # when the recipient was told (DSA Art. 20(2) starts the complaint window then); None: decided_at
    informed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restriction: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(20))  # "action_taken" | "no_action"
    automated_detection: Mapped[bool] = mapped_column(Boolean)
    automated_decision: Mapped[bool] = mapped_column(Boolean)
    statement: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploader_key: Mapped[str | None] = mapped_column(UserKeyType())


class CounterNotice(_KeyChecks, Base):
    """A DMCA counter-notification (§512(g)(3)) with its restore window (§512(g)(2)(C))."""

    __tablename__ = "counter_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    restore_not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    restore_not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    court_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Strike(_KeyChecks, Base):
    """One repeat-infringer strike against an uploader (17 U.S.C. §512(i)(1)(A) policy)."""

    __tablename__ = "strikes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uploader_key: Mapped[str] = mapped_column(UserKeyType(), index=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)


class Complaint(_KeyChecks, Base):
    """An internal complaint (DSA Art. 20) against a decision, and its outcome."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    explanation: Mapped[str] = mapped_column(Text)
    complainant_key: Mapped[str | None] = mapped_column(UserKeyType())
    outcome: Mapped[str | None] = mapped_column(String(20))  # "upheld" | "reversed" | "rejected"
    outcome_reasons: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Acceptance(_KeyChecks, Base):
    """A user accepted one version (and content hash) of one document."""

    __tablename__ = "acceptances"
    __table_args__ = (UniqueConstraint("subject_key", "document_id", "sha256", name="uq_acceptance"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(UserKeyType(), index=True)
    document_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(HashType())
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(20))  # "web" | "api" | ...
    ip_key: Mapped[str | None] = mapped_column(UserKeyType())


class FlaggedImage(_KeyChecks, Base):
    """A blocked or flagged image, kept only as hashes and metadata (never pixels)."""

    __tablename__ = "flagged_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(HashType(), index=True)
    phash: Mapped[str | None] = mapped_column(HashType(), index=True)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    guard_id: Mapped[str | None] = mapped_column(String(200))
    clause_ids: Mapped[list[str]] = mapped_column(JSON)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)  # width, height, format, score, request id
    user_key: Mapped[str | None] = mapped_column(UserKeyType())


class ApiToken(Base):
    """A moderator's or admin's bearer token for the HTTP service: only its salt and scrypt digest.

    The token itself (``cg_<id>_<secret>``) is shown once when created and never stored; see
    :mod:`clauseguard.guards.server.tokens`. Times keep the type the table first had (timezone-aware).
    """

    __tablename__ = "server_api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # "moderator" | "admin"
    label: Mapped[str] = mapped_column(String(200), default="")
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
