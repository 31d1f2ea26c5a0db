"""Column types that make privacy rules hold by construction.

``UserKeyType`` refuses any value that contains a raw IP address, so no code path (ORM or Core) can
store one in a pseudonymised field. ``HashType`` holds a hash digest and refuses anything longer, so an
image (or any payload) can never end up in the flagged-images table. ``UTCDateTime`` stores naive UTC
and hands back aware UTC datetimes on every backend (SQLite keeps no time zone).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.types import TypeDecorator

from clauseguard.errors import NoticeError, RawIpError

__all__ = ["MAX_HASH_CHARS", "HashType", "UTCDateTime", "UserKeyType", "aware_utc", "check_user_key", "contains_raw_ip",
           "not_before"]

MAX_HASH_CHARS = 128  # a sha512 hex digest; sha256 (64) and perceptual hashes (16) fit
# four dotted groups of 1-3 digits, not part of a longer dotted number ("1.2.3.4.5"); a full stop after
# the address ("from 203.0.113.7.") and before it ("host.203.0.113.7") still counts
_IPV4 = re.compile(r"(?<!\d)(?<!\d\.)(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6_TOKEN = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
_NET_PREFIX = "net:"  # truncated addresses: "net:203.0.113.0/24", "net:2001:db8:1::/48"
_HASH = re.compile(r"^[0-9a-zA-Z:_\-+/=]+$")


def _is_truncated_network(value: str) -> bool:
    """True for ``net:<network>/24`` (IPv4) or ``/48`` (IPv6) with the host bits zero."""
    if not value.startswith(_NET_PREFIX):
        return False
    try:
        net = ipaddress.ip_network(value[len(_NET_PREFIX):], strict=True)
    except ValueError:
        return False
    return net.prefixlen == (24 if net.version == 4 else 48)


def contains_raw_ip(value: str) -> bool:
    """True when ``value`` contains something that parses as an IPv4 (zero-padded octets included) or
    IPv6 address."""
    if _is_truncated_network(value):
        return False
    for match in _IPV4.finditer(value):
        # every octet <= 255, zero-padded or not: "203.000.113.007" is refused by IPv4Address but is
        # still an address to anyone reading the record
        if all(int(octet) <= 255 for octet in match.group().split(".")):
            return True
    for token in _IPV6_TOKEN.findall(value):
        if token.count(":") >= 2 and any(_parses_v6(t) for t in (token, token.strip(":"))):
            return True
    return False


def _parses_v6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def check_user_key(value: str | None, *, field: str = "user_key") -> str | None:
    """Return ``value`` unchanged, or raise :class:`RawIpError` if it holds a raw IP address."""
    if value is not None and contains_raw_ip(value):
        raise RawIpError(f"{field} looks like a raw IP address; store it pseudonymised "
                         "(Pseudonymizer.ip(...)) or truncated", where=field)
    return value


def aware_utc(when: datetime | None, name: str) -> datetime:
    """``when`` in UTC (now when None). A naive datetime is refused with a ``ValueError`` naming ``name``:
    ``astimezone`` would read it as the machine's local time, so ``datetime.utcnow()`` on a server
    outside UTC would move a received time, and the deadline counted from it, by hours."""
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime ({when.isoformat()}): pass an aware one, "
                         "e.g. datetime.now(UTC)")
    return when.astimezone(UTC)


def not_before(when: datetime, earlier: datetime, field: str, what: str, label: str = "") -> None:
    """Refuse ``when`` (the ``field`` given) earlier than ``earlier``, what it answers: ``what`` says why,
    then that time, after ``label`` ("a complaint cannot be received before the decision it contests
    (decided 2027-01-04 10:00 UTC)"); events out of order would give negative times in the reports."""
    if when < earlier:
        raise NoticeError(f"{what} ({label + ' ' if label else ''}{earlier:%Y-%m-%d %H:%M} UTC)", fields=(field,))


class UserKeyType(TypeDecorator[str]):
    """A string column that refuses raw IP addresses (checked on every bind, ORM or Core)."""

    impl = String(200)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return check_user_key(value)


class HashType(TypeDecorator[str]):
    """A digest column: printable, at most ``MAX_HASH_CHARS`` characters; bytes are refused."""

    impl = String(MAX_HASH_CHARS)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > MAX_HASH_CHARS or not _HASH.match(value):
            size = len(value) if isinstance(value, str | bytes) else type(value).__name__
            raise ValueError(f"a hash column takes a hex/base64 digest of at most {MAX_HASH_CHARS} "
                             f"characters, not {size!r}: images are stored as hashes only")
        return value


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive input is refused (ambiguous)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)
