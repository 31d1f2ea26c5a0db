"""Throttles of the public routes, per client address: a token bucket each, in the server's bucket store.

Anyone may file a notice, a complaint or a counter-notice, fill in the questionnaire, or try a token,
so each of these costs a client a token from a bucket of its own: without one, a single client could
bury real notices (a TAKE IT DOWN notice has 48 legal hours) under hundreds of fake ones, keep the
workers rendering documents, or tie up the thread pool with scrypt checks of made-up tokens.

A client is its address's pseudonym group (an IPv6 address by its /64, which one client can rotate
through; see :func:`~.client.pseudonymous_ip_group`); behind a reverse proxy list it as trusted, or
every client is the proxy. The buckets live in ``ServerState.buckets``: in memory, each worker
its own, or, with ``rate_limit_db`` (``CLAUSEGUARD_RATE_LIMIT_DB``), in the SQLite file or PostgreSQL
database the rate_limit guards use, so all workers count together. A refused request is a 429 with
``Retry-After`` (the seconds one token takes to come back) and nothing is done.

- ``intake``: ``POST /v1/notices``, ``/v1/complaints``, ``/v1/counter-notices`` and ``POST /report``
  (valid requests); by default 10 at once, then 30 an hour.
- ``questionnaire``: ``POST /questionnaire/preview`` and ``/download`` with valid answers; 20 at once,
  then 240 an hour.
- ``login``: every ``POST /moderation/login``, each bearer token whose id no active token has (refused
  with no scrypt check), and each wrong secret of an active token's id (:func:`verify_token`); 5 at once,
  then one every 12 s.
- ``token``: per token id, not per client: each scrypt check of a bearer token whose id is an active
  token's; 5 at once, then one every 12 s, and a check that succeeds fills it again, so only wrong
  secrets use it up.

The first two are set with ``ServerSettings`` (``intake_burst``, ``intake_per_hour``,
``questionnaire_burst``, ``questionnaire_per_hour``, or the ``CLAUSEGUARD_*`` variables of the same names).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from clauseguard.guards.server.client import pseudonymous_ip_group

__all__ = ["LOGIN", "TOKEN", "Limit", "TokenCache", "client_key", "intake", "questionnaire", "shared_buckets",
           "take", "take_or_429", "too_many", "verify_token"]


@dataclass(frozen=True)
class Limit:
    """A bucket: ``capacity`` requests at once, refilled at ``per_hour``."""

    name: str
    capacity: int
    per_hour: float

    @property
    def refill_per_second(self) -> float:
        return self.per_hour / 3600

    @property
    def retry_after(self) -> int:
        """Seconds until a spent bucket has one token again (at most)."""
        return max(1, math.ceil(3600 / self.per_hour))


# Five attempts at once, then one every twelve seconds (guessing a token should be slow even though
# tokens are long and random; each attempt costs an scrypt check).
LOGIN = Limit("login", 5, 300)
# The same per token id: wrong secrets of one real token id, from any number of addresses, get five scrypt
# checks at once and then one every twelve seconds; colleagues behind one address each have their own.
TOKEN = Limit("token", 5, 300)
_REFILL_AT_ONCE = 1e9  # tokens a second: a take at this rate finds the bucket full (see _refill)


def intake(settings: Any) -> Limit:
    return Limit("intake", settings.intake_burst, settings.intake_per_hour)


def questionnaire(settings: Any) -> Limit:
    return Limit("questionnaire", settings.questionnaire_burst, settings.questionnaire_per_hour)


def client_key(request: Request, state: Any) -> str:
    """The client's bucket name part: the pseudonym of its address group (``unknown-client`` without one)."""
    return pseudonymous_ip_group(request, state.proxies, state.pseudonymizer) or "unknown-client"


def take(request: Request, state: Any, limit: Limit, key: str | None = None) -> bool:
    """Take a token from the client's ``limit`` bucket; False when it is spent. A store that cannot be
    read raises (the request fails closed)."""
    key = key or client_key(request, state)
    return bool(state.buckets.take(f"{limit.name}:{key}", capacity=limit.capacity,
                                         refill_per_second=limit.refill_per_second, now=time.monotonic()))


def too_many(limit: Limit, why: str = "too many requests from this address") -> HTTPException:
    return HTTPException(429, detail=f"{why}; try again in {limit.retry_after} s",
                         headers={"Retry-After": str(limit.retry_after)})


def take_or_429(request: Request, state: Any, limit: Limit) -> None:
    """Take a token from the client's ``limit`` bucket, or raise a 429 with ``Retry-After``."""
    if not take(request, state, limit):
        raise too_many(limit)


def shared_buckets(where: str) -> Any:
    """The server's buckets in the rate_limit guards' shared store ``where`` (a SQLite file or a PostgreSQL
    URL), in a namespace of their own."""
    from clauseguard.guards.rate_limit import PostgresBucketStore, SqliteBucketStore

    if "://" in where and not where.startswith("sqlite:///"):
        return PostgresBucketStore(where, namespace="clauseguard-server")
    return SqliteBucketStore(where.removeprefix("sqlite:///"), namespace="clauseguard-server")


class TokenCache:
    """Bearer tokens checked lately (as SHA-256 digests, for ``ttl`` seconds, bounded in number): the
    principal of a valid one, or that it failed. Either way the next request with that token needs no
    scrypt check; a valid one is still looked up as not revoked, so revoking a token takes effect at once.
    Requests with the same token that arrive together are checked one after another (:meth:`checking`), so
    the first check serves the others.
    """

    def __init__(self, ttl: float = 60.0, max_keys: int = 10_000) -> None:
        self.ttl, self.max_keys = ttl, max_keys
        self._seen: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()
        self._checking: dict[bytes, tuple[threading.Lock, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, token: str) -> tuple[bool, Any]:
        """``(seen lately, its principal or None)``."""
        key = self._digest(token)
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or time.monotonic() - seen[0] > self.ttl:
                self._seen.pop(key, None)
                return False, None
            return True, seen[1]

    def put(self, token: str, principal: Any) -> None:
        key = self._digest(token)
        with self._lock:
            self._seen.pop(key, None)
            self._seen[key] = (time.monotonic(), principal)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)

    def forget(self, token: str) -> None:
        with self._lock:
            self._seen.pop(self._digest(token), None)

    @contextmanager
    def checking(self, token: str) -> Iterator[None]:
        """Held while ``token`` is checked: another check of the same token in this process waits for it."""
        key = self._digest(token)
        with self._lock:
            lock, users = self._checking.get(key, (threading.Lock(), 0))
            self._checking[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._checking[key]
                if users == 1:
                    del self._checking[key]
                else:
                    self._checking[key] = (lock, users - 1)


def _refill(state: Any, limit: Limit, key: str) -> None:
    """Fill the bucket ``key`` again: a take from a bucket one larger that refills at once leaves it full."""
    state.buckets.take(key, capacity=limit.capacity + 1, refill_per_second=_REFILL_AT_ONCE, now=time.monotonic())


def _check(request: Request, state: Any, token: str, counted: bool) -> Any:
    """:func:`verify_token` past the cache, in a worker thread (it reads the token store and the buckets)."""
    cache: TokenCache = state.token_cache
    with cache.checking(token):
        seen, principal = cache.get(token)
        if seen:  # checked meanwhile, by a request that arrived with this one
            return principal
        token_id = state.tokens.token_id(token)
        if token_id is None or not state.tokens.active(token_id):  # no scrypt: nothing to check it against
            if not counted and not take(request, state, LOGIN):
                raise too_many(LOGIN)
            cache.put(token, None)
            return None
        key = f"{TOKEN.name}:{token_id}"
        if not take(request, state, TOKEN, key=token_id):
            raise too_many(TOKEN, "too many wrong secrets for this token id")
        principal = state.tokens.verify(token)
        if principal is not None:
            _refill(state, TOKEN, key)
        elif not counted:
            take(request, state, LOGIN)  # a wrong secret costs its sender too (the result matters next time)
        cache.put(token, principal)
        return principal


async def verify_token(request: Request, state: Any, token: str, *, counted: bool = False) -> Any:
    """The principal of ``token``, or None when it is not valid; a 429 when a throttle says no.

    A token is ``cg_<id>_<secret>`` and its id is public. One whose id no active token has is refused with
    no scrypt check, and costs the client a token of its ``login`` bucket, so guessing ids gets a few tries
    and then 429s. One whose id is an active token's is checked by scrypt (~0.1 s of a worker thread),
    which costs a token of that id's own ``token`` bucket, not the client's: moderators behind one office
    address do not share. A check that succeeds fills the id's bucket again, so a valid token is never
    refused unless wrong secrets were sent for its id lately; a wrong secret costs the id's bucket and the
    client's ``login`` bucket. A token checked in the last minute (:class:`TokenCache`, per worker) costs
    nothing: a wrong one fails again at once, a valid one is only looked up as not revoked, so a moderator's
    or admin's requests are not slowed. The bootstrap admin token is compared by its digest, which costs
    nothing either. ``counted``: the caller took from the client's ``login`` bucket already (the sign-in
    page, for every attempt)."""
    from starlette.concurrency import run_in_threadpool

    cache: TokenCache = state.token_cache
    bootstrap = state.tokens.bootstrap(token)
    if bootstrap is not None:
        return bootstrap
    seen, principal = cache.get(token)
    if seen:
        if principal is None or await run_in_threadpool(state.tokens.active, principal.id):
            return principal
        cache.forget(token)  # revoked since: checked again below, and refused
    return await run_in_threadpool(_check, request, state, token, counted)
