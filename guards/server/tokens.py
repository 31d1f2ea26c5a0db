"""Bearer tokens of moderators and admins, stored only as scrypt hashes.

A token reads ``cg_<id>_<secret>``: the id finds the row, the secret is checked against its salted
scrypt hash with a constant-time comparison. The id is the token's public part (the admin routes list
and revoke tokens by it); the server refuses an id that no active token has without an scrypt check
(:func:`~.throttle.verify_token`), so it does not hide which ids exist, only the secrets. The token
itself is shown once, when created, and never stored.
A bootstrap admin token may come from the environment (``CLAUSEGUARD_ADMIN_TOKEN``): it is compared
by its SHA-256 digest, also in constant time, and can create the first stored tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    NotSupportedError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from clauseguard.errors import RecordsError
from clauseguard.guards.records.models import ApiToken

__all__ = ["Principal", "Role", "TokenInfo", "TokenStore", "api_tokens"]

api_tokens = ApiToken.__table__  # created by the records' alembic migrations (0002_server_api_tokens)

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_DUMMY_SALT = b"\x00" * 16


class Role(StrEnum):
    MODERATOR = "moderator"
    ADMIN = "admin"


RANK = {Role.MODERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who a valid token belongs to (``id`` is ``env`` for the bootstrap admin token)."""

    id: str
    role: Role

    def may(self, role: Role) -> bool:
        return RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: Role
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _digest(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8", "surrogatepass"), salt=salt, **_SCRYPT)


@contextmanager
def _reachable(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached or written (gone, locked, full, not a database) is a
    :class:`RecordsError`, which the server answers with 503 and Retry-After like every record, not
    a 500; a statement the database refuses keeps its own type."""
    try:
        yield
    except (IntegrityError, DataError, ProgrammingError, NotSupportedError):
        raise
    except (DBAPIError, DisconnectionError, PoolTimeoutError) as err:
        where = engine.url.render_as_string(hide_password=True)
        raise RecordsError(f"token store {where} cannot be read or written: {getattr(err, 'orig', None) or err}"
                           ) from err


def _split(token: str) -> tuple[str, str] | None:
    prefix, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != "cg" or not token_id or not secret or len(token) > 200:
        return None
    return token_id, secret


class TokenStore:
    """Create, verify, list and revoke tokens in the ``server_api_tokens`` table.

    ``engine`` is a record store's engine (``RecordStore.open`` migrates it, which creates the table).
    """

    def __init__(self, engine: Engine, *, bootstrap_admin: str | None = None) -> None:
        self.engine = engine
        self._bootstrap = hashlib.sha256(bootstrap_admin.encode()).digest() if bootstrap_admin else None

    def create(self, role: Role | str, label: str = "") -> tuple[str, TokenInfo]:
        """A new token (returned once, in the clear) and what is stored about it."""
        role = Role(role)
        token_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_bytes(16)
        now = datetime.now(UTC)
        with _reachable(self.engine), self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(id=token_id, role=role.value, label=label, salt=salt,
                                                    digest=_digest(secret, salt), created_at=now))
        return f"cg_{token_id}_{secret}", TokenInfo(token_id, role, label, now, None)

    def bootstrap(self, token: str) -> Principal | None:
        """The bootstrap admin when ``token`` is ``CLAUSEGUARD_ADMIN_TOKEN`` (a SHA-256, no scrypt), else None."""
        if self._bootstrap is not None and hmac.compare_digest(
                hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest(), self._bootstrap):
            return Principal("env", Role.ADMIN)
        return None

    def verify(self, token: str) -> Principal | None:
        """The principal of ``token``, or None (unknown, wrong or revoked)."""
        bootstrap = self.bootstrap(token)
        if bootstrap is not None:
            return bootstrap
        parts = _split(token)
        token_id, secret = parts if parts else ("", token)
        with _reachable(self.engine), self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first() if parts else None
        digest = _digest(secret, row.salt if row else _DUMMY_SALT)
        if row is None or row.revoked_at is not None or not hmac.compare_digest(digest, row.digest):
            return None
        return Principal(row.id, Role(row.role))

    @staticmethod
    def token_id(token: str) -> str | None:
        """The id (public part) of a token of the form ``cg_<id>_<secret>``, or None for any other string."""
        parts = _split(token)
        return parts[0] if parts else None

    def revoke(self, token_id: str) -> bool:
        """Revoke a token; False when no active token has that id."""
        with _reachable(self.engine), self.engine.begin() as conn:
            result = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                           api_tokens.c.revoked_at.is_(None))
                                  .values(revoked_at=datetime.now(UTC)))
        return bool(result.rowcount)

    def active(self, token_id: str) -> bool:
        """Whether a stored token has this id and is not revoked (a session of it may go on)."""
        with _reachable(self.engine), self.engine.connect() as conn:
            row = conn.execute(select(api_tokens.c.revoked_at).where(api_tokens.c.id == token_id)).first()
        return row is not None and row.revoked_at is None

    def list(self) -> list[TokenInfo]:
        with _reachable(self.engine), self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).all()
        return [TokenInfo(r.id, Role(r.role), r.label, r.created_at, r.revoked_at) for r in rows]
