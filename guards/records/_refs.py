"""References handed to notifiers and users: short, unique, unguessable (``DSA-7F3K9Q2M``)."""

from __future__ import annotations

import secrets
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauseguard.errors import NoticeNotFound

__all__ = ["locked", "new_reference"]

Row = TypeVar("Row")

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone without mistakes


def new_reference(prefix: str) -> str:
    return prefix.upper() + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def locked(session: Session, model: type[Row], reference: str, what: str, field: str) -> Row:
    """The row of ``model`` with ``reference``, locked until the session ends (two moderators acting on it
    at once take turns), or :class:`NoticeNotFound` ("no complaint with reference 'X'") naming ``field``."""
    column: Any = model.reference  # type: ignore[attr-defined]
    row = session.execute(select(model).where(column == reference).with_for_update()).scalar_one_or_none()
    if row is None:
        raise NoticeNotFound(f"no {what} with reference {reference!r}", fields=(field,))
    return row
