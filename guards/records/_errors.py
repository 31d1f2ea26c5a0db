"""Errors of the records layer, placed in the tree of :mod:`clauseguard.errors`.

They live here until the lead moves them into ``clauseguard.errors``; callers should import them from
``clauseguard.guards.records``. ::

    UserError
     ├── NoticeError (ValueError)      a notice, counter-notice or complaint misses a required element
     ├── RawIpError (ValueError)       a raw IP address was about to be stored in a pseudonymised field
     └── PseudonymKeyError (ValueError) CLAUSEGUARD_PSEUDONYM_KEYS is missing or malformed
    RecordsError (RuntimeError)        the store cannot be opened, migrated or written
"""

from __future__ import annotations

from clauseguard.errors import ClauseguardError, UserError

__all__ = ["NoticeError", "PseudonymKeyError", "RawIpError", "RecordsError"]


class NoticeError(UserError, ValueError):
    """A notice, counter-notice, complaint or decision is incomplete or out of time.

    ``fields`` names the missing or invalid fields (``("notifier_email",)``).
    """

    def __init__(self, message: str, *, fields: tuple[str, ...] = (), where: str | None = None) -> None:
        self.fields = fields
        super().__init__(message, where=where)


class RawIpError(UserError, ValueError):
    """Something that looks like a raw IP address was given for a field that holds only pseudonyms."""


class PseudonymKeyError(UserError, ValueError):
    """The pseudonymisation keys (``CLAUSEGUARD_PSEUDONYM_KEYS``) are missing or malformed."""


class RecordsError(ClauseguardError, RuntimeError):
    """The record store cannot be opened, migrated or written."""
