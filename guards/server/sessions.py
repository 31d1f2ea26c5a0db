"""Moderators' sessions ended by signing out: their ids, kept until the session would have expired anyway.

A session lives in a signed cookie (:mod:`.pages._signing`), so deleting the cookie in the browser does
not end it: a copy of the cookie would open the moderation pages until it expires. Signing out records
the session's id here, in the records database that every worker (and every host) shares, and
:func:`~.pages._signing.read_session` refuses a recorded id. Only a SHA-256 of the id is stored, with
the time the session would have expired; rows past that time are deleted at the next sign-out.

The table ``server_revoked_sessions`` is the server's own: it is created when the app is made (``CREATE
TABLE IF NOT EXISTS``), not by the records' migrations, and holds nothing a record refers to. A
database that cannot be read or written is a :class:`~clauseguard.errors.RecordsError` (a 503): a
session is never taken as valid because its revocation could not be checked.
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError

from clauseguard.guards.server.tokens import _reachable

__all__ = ["RevokedSessions", "revoked_sessions"]

revoked_sessions = Table(
    "server_revoked_sessions", MetaData(),
    Column("sid_sha256", String(64), primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),  # Unix time the session would have ended
)


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


class RevokedSessions:
    """The ids of sessions signed out before their expiry, in ``engine``'s database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_table(self) -> None:
        """Create the table unless it exists (two workers starting at once may both try: one wins)."""
        try:
            with _reachable(self.engine), self.engine.begin() as conn:
                revoked_sessions.create(conn, checkfirst=True)
        except (IntegrityError, ProgrammingError):  # another worker created it between the check and ours
            with _reachable(self.engine), self.engine.connect() as conn:
                if not self.engine.dialect.has_table(conn, revoked_sessions.name):
                    raise

    def revoke(self, sid: str, expires_at: int) -> None:
        """End session ``sid`` (signed out) until ``expires_at``, when its cookie ends anyway."""
        now = int(time.time())
        try:
            with _reachable(self.engine), self.engine.begin() as conn:
                conn.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < now))
                if not conn.execute(select(revoked_sessions.c.sid_sha256)
                                    .where(revoked_sessions.c.sid_sha256 == _key(sid))).first():
                    conn.execute(revoked_sessions.insert().values(sid_sha256=_key(sid), expires_at=expires_at))
        except IntegrityError:  # signed out twice at once: the other sign-out recorded it
            if not self.revoked(sid):
                raise

    def revoked(self, sid: str) -> bool:
        """Whether session ``sid`` was signed out."""
        with _reachable(self.engine), self.engine.connect() as conn:
            return conn.execute(select(revoked_sessions.c.sid_sha256)
                                .where(revoked_sessions.c.sid_sha256 == _key(sid))).first() is not None
