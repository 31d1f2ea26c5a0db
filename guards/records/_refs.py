"""References handed to notifiers and users: short, unique, unguessable (``DSA-7F3K9Q2M``)."""

from __future__ import annotations

import secrets

__all__ = ["new_reference"]

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone without mistakes


def new_reference(prefix: str) -> str:
    return prefix.upper() + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))
