"""Acceptance records: who accepted which version (and content hash) of which document, when, where.

``needs_acceptance`` compares against the documents in ``clauseguard.lock``: a user must accept again
whenever a document's content hash changes (a new clause version, a changed template), even if the
version number did not move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clauseguard.errors import NoticeError
from clauseguard.guards.records._types import aware_utc
from clauseguard.guards.records.lockfile import DocumentVersion, document_versions
from clauseguard.guards.records.models import Acceptance
from clauseguard.guards.records.store import RecordStore

__all__ = ["accepted", "needs_acceptance", "record_acceptance"]

Lock = str | Path | Mapping[str, Any]


def _current(lock: Lock, report: Lock | None, document_id: str) -> DocumentVersion:
    versions = document_versions(lock, report)
    if document_id not in versions:
        raise NoticeError(f"document {document_id!r} is not in clauseguard.lock; known: {', '.join(versions)}",
                          fields=("document_id",))
    return versions[document_id]


def record_acceptance(store: RecordStore, subject_key: str, document_id: str, *, lock: Lock,
                      report: Lock | None = None, channel: str = "web", ip_key: str | None = None,
                      accepted_at: datetime | None = None) -> Acceptance:
    """Record that ``subject_key`` accepted the CURRENT version of ``document_id`` (idempotent)."""
    doc = _current(lock, report, document_id)
    row = Acceptance(subject_key=subject_key, document_id=document_id, version=doc.version, sha256=doc.sha256,
                     accepted_at=aware_utc(accepted_at, "accepted_at"), channel=channel, ip_key=ip_key)
    try:
        with store.session(write=True) as s:
            s.add(row)
    except IntegrityError:  # already accepted this exact text: keep the first record
        with store.session() as s:
            return s.execute(select(Acceptance).where(Acceptance.subject_key == subject_key,
                                                      Acceptance.document_id == document_id,
                                                      Acceptance.sha256 == doc.sha256)).scalar_one()
    return row


def accepted(store: RecordStore, subject_keys: str | Iterable[str]) -> list[Acceptance]:
    """Every acceptance of the subject (several keys: the same user under rotated pseudonym keys)."""
    keys = [subject_keys] if isinstance(subject_keys, str) else list(subject_keys)
    with store.session() as s:
        return list(s.execute(select(Acceptance).where(Acceptance.subject_key.in_(keys))
                              .order_by(Acceptance.accepted_at)).scalars())


def needs_acceptance(store: RecordStore, subject_keys: str | Iterable[str], lock: Lock, *,
                     report: Lock | None = None, documents: Iterable[str] | None = None) -> list[DocumentVersion]:
    """Documents (of ``documents``, default all in the lock) whose current hash the user has not accepted."""
    versions = document_versions(lock, report)
    wanted = list(documents) if documents is not None else list(versions)
    done = {(a.document_id, a.sha256) for a in accepted(store, subject_keys)}
    return [versions[d] for d in wanted if d in versions and (d, versions[d].sha256) not in done]
