"""Rate-limit guard: a token bucket per user key (or per pseudonymised IP address).

Buckets live in a :class:`BucketStore`; the default keeps them in memory, thread-safe, bounded in
size (the least recently used key is dropped first). IP addresses are never used as keys in the
clear: the key is an HMAC of the address with the process's hash key (see :func:`pii.hash_key`).

``key: user`` falls back to the IP address for a caller with no user key; only a request with
neither shares the one anonymous bucket. A raw address is put in one form first, so its spellings
share a bucket ("2001:DB8::1" and "2001:db8:0:0:0:0:0:1"; "::ffff:192.0.2.1" and "192.0.2.1"), and
an IPv6 address counts by its /64 network, which one host or home is usually given whole and can
rotate through. An ``ip`` that is no address (a pseudonym made before the guard, as the server does)
is used as it is: any such canonical form must then be applied where the pseudonym is made.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._params import GuardSpec, RateLimitParams
from clauseguard.guards._registry import register
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.pii import pseudonymise

__all__ = ["IPV6_PREFIX", "BucketStore", "MemoryBucketStore", "RateLimitGuard", "ip_bucket"]

IPV6_PREFIX = 64  # IPv6 addresses share a bucket by this network prefix
_EPSILON = 1e-9  # of a token: float rounding, never a request's worth


def _host(ip: str) -> str:
    """``ip`` without a port a socket address may carry ("192.0.2.1:5000", "[2001:db8::1]:443")."""
    ip = ip.strip()
    if ip.startswith("["):
        return ip[1:].partition("]")[0]
    host, colon, port = ip.partition(":")
    return host if colon and port.isdigit() and ":" not in port else ip


def ip_bucket(ip: str) -> str:
    """What the bucket of ``ip`` is named after: an IPv4 address (IPv4-mapped IPv6 unwrapped) or the
    /64 network of an IPv6 address, in their canonical spelling, without a port; ``ip`` itself if it is
    no address."""
    try:
        addr = ipaddress.ip_address(_host(ip))
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is None:
            return str(ipaddress.IPv6Network((addr, IPV6_PREFIX), strict=False))
        addr = addr.ipv4_mapped
    return str(addr)


@runtime_checkable
class BucketStore(Protocol):
    """Takes one token from the bucket of ``key``; returns whether one was there."""

    def take(self, key: str, *, capacity: int, refill_per_second: float, now: float) -> bool: ...


class MemoryBucketStore:
    """In-process buckets: ``key -> (tokens, last refill time)``. Each process has its own: several
    workers each allow ``capacity`` (a shared limit needs a shared :class:`BucketStore`)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, *, capacity: int, refill_per_second: float, now: float) -> bool:
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + max(0.0, now - last) * refill_per_second)
            allowed = tokens >= 1.0 - _EPSILON  # a refill summed in pieces may fall a rounding error short
            # A clock that steps back (a wall clock, another process's) must not count the same time twice.
            self._buckets[key] = (max(0.0, tokens - 1.0) if allowed else tokens, max(last, now))
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed


@register("rate_limit")
class RateLimitGuard(Guard):
    """Blocks (or flags) a user who has spent their bucket."""

    params: RateLimitParams
    stream_hold = 0

    def __init__(self, spec: GuardSpec, *, store: BucketStore | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(spec)
        self.store: BucketStore = store if store is not None else MemoryBucketStore()
        self.clock = clock

    def _key(self, context: Context) -> str:
        if self.params.key == "user" and context.user_key:
            return "user:" + context.user_key
        if context.ip:  # key: ip, or key: user for a caller with no user key
            return pseudonymise("ip", ip_bucket(context.ip))
        return "anonymous"

    def check(self, content: str | bytes, context: Context) -> Verdict:
        allowed = self.store.take(self._key(context), capacity=self.params.capacity,
                                  refill_per_second=self.params.refill_per_second, now=self.clock())
        if allowed:
            return Verdict.allow(content, self.id)
        message = self.spec.message or (f"rate limit of {self.params.capacity} requests "
                                        f"(+{self.params.refill_per_second:g}/s) reached")
        return self.verdict(content, [self.finding(None, score=1.0, message=message)])
