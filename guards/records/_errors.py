"""Re-exports the records errors, which live in :mod:`clauseguard.errors` with every other error."""

from clauseguard.errors import NoticeError, PseudonymKeyError, RawIpError, RecordsError

__all__ = ["NoticeError", "PseudonymKeyError", "RawIpError", "RecordsError"]
