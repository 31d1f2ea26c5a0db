"""The records layer's own error: a reference that names nothing.

:class:`NoticeNotFound` is a :class:`~clauseguard.errors.NoticeError` (so code that catches notice
mistakes still catches it) and a :class:`LookupError` (so callers, and the server's 404 handler, tell
"no such notice" from "this notice is incomplete" by type, never by the message's wording)::

    NoticeError (UserError, ValueError)
     └── NoticeNotFound (LookupError)     no notice, decision, complaint or counter-notice with that reference
"""

from __future__ import annotations

from clauseguard.errors import NoticeError

__all__ = ["NoticeNotFound"]


class NoticeNotFound(NoticeError, LookupError):
    """No notice, decision, complaint or counter-notice has the reference given (``fields`` names it)."""
