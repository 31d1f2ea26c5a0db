"""Pseudonymised user keys: keyed HMAC-SHA256 (with key rotation) or truncated IP addresses.

Keys come from ``CLAUSEGUARD_PSEUDONYM_KEYS="kid1:base64key,kid2:base64key"``; the first is current
and is used for new pseudonyms, every key is tried when looking a value up, so rotating keys (put the
new key first, keep the old ones until their records are purged) does not lose any record. A
pseudonym carries its key id: ``ip:kid1:<64 hex>``, ``user:kid1:<64 hex>``. Truncation instead keeps
the network (``net:203.0.113.0/24``, ``net:2001:db8:1::/48``), which is not personal data on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from clauseguard.errors import PseudonymKeyError, RawIpError

__all__ = ["ENV_KEYS", "PseudonymKey", "Pseudonymizer", "parse_keys", "truncate_ip"]

ENV_KEYS = "CLAUSEGUARD_PSEUDONYM_KEYS"
MIN_KEY_BYTES = 16
_KID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class PseudonymKey:
    kid: str
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"PseudonymKey(kid={self.kid!r}, key=<{len(self.key)} bytes>)"


def parse_keys(spec: str) -> tuple[PseudonymKey, ...]:
    """Parse ``"kid1:base64key,kid2:base64key"`` (first is current)."""
    keys: list[PseudonymKey] = []
    for n, item in enumerate(p.strip() for p in spec.split(",") if p.strip()):
        kid, sep, b64 = item.partition(":")
        if not sep or not _KID.match(kid):
            raise PseudonymKeyError(f"entry {n + 1}: expected kid:base64key with a kid of letters, digits, - or _",
                                    where=ENV_KEYS)
        try:
            key = base64.b64decode(b64 + "=" * (-len(b64) % 4), altchars=b"-_" if "-" in b64 or "_" in b64 else None,
                                   validate=True)
        except (binascii.Error, ValueError) as err:
            raise PseudonymKeyError(f"key {kid!r} is not base64: {err}", where=ENV_KEYS) from err
        if len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(f"key {kid!r} has {len(key)} bytes; use at least {MIN_KEY_BYTES}",
                                    where=ENV_KEYS)
        if any(k.kid == kid for k in keys):
            raise PseudonymKeyError(f"key id {kid!r} is listed twice", where=ENV_KEYS)
        keys.append(PseudonymKey(kid, key))
    if not keys:
        raise PseudonymKeyError("no keys given", where=ENV_KEYS)
    return tuple(keys)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        addr = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError as err:
        raise RawIpError(f"not an IP address: {value!r}") from err
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def truncate_ip(value: str) -> str:
    """``net:`` + the /24 (IPv4) or /48 (IPv6) network of ``value``."""
    addr = _address(value)
    prefix = 24 if addr.version == 4 else 48
    return "net:" + str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class Pseudonymizer:
    """Turns IP addresses and account ids into pseudonyms; see the module docstring for formats."""

    def __init__(self, keys: Sequence[PseudonymKey] = (), *, ip_mode: Literal["hmac", "truncate"] = "hmac") -> None:
        if ip_mode not in ("hmac", "truncate"):
            raise PseudonymKeyError(f"ip_mode must be 'hmac' or 'truncate', not {ip_mode!r}")
        self.keys = tuple(keys)
        self.ip_mode = ip_mode

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *,
                 ip_mode: Literal["hmac", "truncate"] = "hmac") -> Pseudonymizer:
        """Keys from ``CLAUSEGUARD_PSEUDONYM_KEYS``; without it, only ``ip_mode="truncate"`` works."""
        spec = (os.environ if env is None else env).get(ENV_KEYS, "")
        return cls(parse_keys(spec) if spec.strip() else (), ip_mode=ip_mode)

    def _current(self) -> PseudonymKey:
        if not self.keys:
            raise PseudonymKeyError("no pseudonymisation key: set it (e.g. kid1:<32 random bytes, base64>)",
                                    where=ENV_KEYS)
        return self.keys[0]

    @staticmethod
    def _digest(key: PseudonymKey, kind: str, data: bytes) -> str:
        return f"{kind}:{key.kid}:" + hmac.new(key.key, kind.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def ip(self, address: str) -> str:
        """The pseudonym of an IP address (HMAC with the current key, or the truncated network)."""
        if self.ip_mode == "truncate":
            return truncate_ip(address)
        return self._digest(self._current(), "ip", _address(address).packed)

    def user(self, account_id: str) -> str:
        """The pseudonym of an account id (always HMAC: an id cannot be truncated)."""
        return self._digest(self._current(), "user", account_id.encode("utf-8"))

    def ip_candidates(self, address: str) -> list[str]:
        """Every form ``address`` may be stored under (each key, and the truncated form), for look-ups."""
        packed = _address(address).packed
        return [self._digest(k, "ip", packed) for k in self.keys] + [truncate_ip(address)]

    def user_candidates(self, account_id: str) -> list[str]:
        """Every key's pseudonym of ``account_id``, current first (look-ups across key rotation)."""
        return [self._digest(k, "user", account_id.encode("utf-8")) for k in self.keys]

    def matches(self, stored: str, *, ip: str | None = None, account_id: str | None = None) -> bool:
        """True when ``stored`` is the pseudonym of ``ip`` / ``account_id`` under any known key."""
        candidates = (self.ip_candidates(ip) if ip else []) + (self.user_candidates(account_id) if account_id else [])
        return any(hmac.compare_digest(stored, c) for c in candidates)
