"""Flagged images, kept as hashes and metadata only: sha256 of the bytes, and a perceptual hash if given.

The perceptual hash is computed by the caller (an image guard that already decoded the image), so
this module needs no imaging library; :class:`HashType` columns refuse anything longer than a digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from clauseguard.guards.records._types import aware_utc
from clauseguard.guards.records.models import FlaggedImage
from clauseguard.guards.records.store import RecordStore

__all__ = ["find_flagged", "record_flagged_image"]

_META_TYPES = (str, int, float, bool, type(None))


def record_flagged_image(store: RecordStore, image: bytes, *, phash: str | None = None, guard_id: str | None = None,
                         clause_ids: Sequence[str] = (), meta: Mapping[str, Any] | None = None,
                         user_key: str | None = None, at: datetime | None = None) -> str:
    """Store the hashes of ``image`` (never its bytes); returns the sha256. Metadata must be scalars."""
    bad = {k: type(v).__name__ for k, v in (meta or {}).items() if not isinstance(v, _META_TYPES)}
    if bad:
        raise ValueError(f"image metadata takes scalars only (no pixels, no nested data): {bad}")
    digest = hashlib.sha256(image).hexdigest()
    with store.session(write=True) as s:
        s.add(FlaggedImage(sha256=digest, phash=phash, flagged_at=aware_utc(at, "at"),
                           guard_id=guard_id, clause_ids=list(clause_ids), meta=dict(meta or {}), user_key=user_key))
    return digest


def find_flagged(store: RecordStore, *, sha256: str | None = None, phash: str | None = None) -> list[FlaggedImage]:
    """Flagged images with this exact sha256 or perceptual hash (known identical copies)."""
    conditions = [c for c in (FlaggedImage.sha256 == sha256 if sha256 else None,
                              FlaggedImage.phash == phash if phash else None) if c is not None]
    if not conditions:
        return []
    with store.session() as s:
        return list(s.execute(select(FlaggedImage).where(or_(*conditions))).scalars())
