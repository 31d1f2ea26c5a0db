"""Rate-limit guard: a token bucket per user key (or per pseudonymised IP address).

Buckets live in a :class:`BucketStore`; the default keeps them in memory, thread-safe, bounded in
size (the least recently used key is dropped first), so each process has its own. A
:class:`SqliteBucketStore` keeps them in one SQLite file that every process on the host shares
(``uvicorn --workers 4``, a Gradio app beside the HTTP service), and a :class:`PostgresBucketStore`
keeps them in a PostgreSQL table that the workers of several hosts share, on the database's clock:
:func:`share_rate_limits` puts a pipeline's rate_limit guards on either. IP addresses are never used as keys in the
clear: the key is an HMAC of the address with the process's hash key (see :func:`pii.hash_key`).

``key: user`` falls back to the IP address for a caller with no user key; only a request with
neither shares the one anonymous bucket. A raw address is put in one form first, so its spellings
share a bucket ("2001:DB8::1" and "2001:db8:0:0:0:0:0:1"; "::ffff:192.0.2.1" and "192.0.2.1"), and
an IPv6 address counts by its /64 network, which one host or home is usually given whole and can
rotate through. An ``ip`` that is no address (a pseudonym made before the guard) cannot be grouped so:
where the pseudonym is made, put the pseudonym of the group in ``Context.ip_group`` (the HTTP service
does, with its shared pseudonym key, so its workers find the same bucket), and the guard uses it as it is.
"""

from __future__ import annotations

import ipaddress
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from clauseguard.guards._base import Context, Guard
from clauseguard.guards._params import Action, GuardSpec, RateLimitParams
from clauseguard.guards._registry import register
from clauseguard.guards._sqlite import switch_to_wal
from clauseguard.guards._verdict import Verdict
from clauseguard.guards.pii import pseudonymise

if TYPE_CHECKING:
    from clauseguard.guards.pipeline import Pipeline

__all__ = ["IPV6_PREFIX", "BucketStore", "MemoryBucketStore", "PostgresBucketStore", "RateLimitGuard",
           "SqliteBucketStore", "ip_bucket", "share_rate_limits"]

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
            state = self._buckets.pop(key, (float(capacity), now))
            allowed, self._buckets[key] = _taken(state, capacity, refill_per_second, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed


def _taken(state: tuple[float, float], capacity: int, refill_per_second: float, now: float
           ) -> tuple[bool, tuple[float, float]]:
    """Whether a token was there, and the bucket ``(tokens, last refill time)`` after taking it."""
    tokens, last = state
    tokens = min(float(capacity), tokens + max(0.0, now - last) * refill_per_second)
    allowed = tokens >= 1.0 - _EPSILON  # a refill summed in pieces may fall a rounding error short
    # A clock that steps back (a wall clock, another process's) must not count the same time twice.
    return allowed, (max(0.0, tokens - 1.0) if allowed else tokens, max(last, now))


CLEAN_UP_EVERY = 1024  # takes of a store between two clean-ups of its namespace


def _boot() -> str:
    """This boot of the host: the kernel's boot id on Linux, else the wall-clock time at which the monotonic
    clock read zero, to the minute (a later estimate can only differ by clock adjustments)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return str(round((time.time() - time.monotonic()) / 60))


class SqliteBucketStore:
    """Buckets in one SQLite file, shared by every process and thread that opens it: N workers on a host
    allow a user ``capacity`` together, not N times over. Each take is one ``BEGIN IMMEDIATE`` transaction
    (SQLite's write lock: takes are serialised across processes, never lost to a race). ``namespace``
    keeps two guards' buckets apart in one file.

    The time is the guard's clock (``time.monotonic``: the host's, the same in every process; not across
    hosts, which share a :class:`PostgresBucketStore` instead). That clock starts again when the host does, so
    the file notes the host's boot, and the first store opened after a restart empties it: every bucket is
    full again, as a restarted process's memory store would have it. A bucket
    that has refilled to ``capacity`` is the same as none, so such rows are deleted now and then. A take the
    file refuses (locked past ``timeout`` seconds, unwritable) raises: the guard fails closed. The file must
    be one on disk: an in-memory database is each connection's own, so nothing would be shared."""

    def __init__(self, path: str | Path, *, namespace: str = "", timeout: float = 5.0) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file::memory:") or "mode=memory" in str(path):
            raise ValueError(f"shared rate-limit buckets need a file, not {str(path) or 'an empty path'!r} "
                             "(an in-memory database is each connection's own)")
        self.path, self.namespace, self.timeout = Path(path), namespace, timeout
        self._local = threading.local()
        self._takes = 0
        db = self._db()
        switch_to_wal(db, self.timeout)
        db.execute("CREATE TABLE IF NOT EXISTS clauseguard_rate_buckets (namespace TEXT NOT NULL, key TEXT NOT NULL, "
                   "tokens REAL NOT NULL, updated REAL NOT NULL, full_at REAL NOT NULL, PRIMARY KEY (namespace, key))")
        db.execute("CREATE TABLE IF NOT EXISTS clauseguard_rate_boot (id INTEGER PRIMARY KEY CHECK (id = 0), "
                   "boot TEXT NOT NULL)")
        boot = _boot()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT boot FROM clauseguard_rate_boot WHERE id = 0").fetchone()
            if row is None or row[0] != boot:  # times of a clock that has started again (or of an unknown one)
                db.execute("DELETE FROM clauseguard_rate_buckets")
                db.execute("INSERT INTO clauseguard_rate_boot (id, boot) VALUES (0, ?) "
                           "ON CONFLICT (id) DO UPDATE SET boot = excluded.boot", (boot,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _db(self) -> Any:
        import sqlite3

        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():  # a connection never crosses a fork
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def take(self, key: str, *, capacity: int, refill_per_second: float, now: float) -> bool:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT tokens, updated FROM clauseguard_rate_buckets WHERE namespace = ? AND key = ?",
                             (self.namespace, key)).fetchone()
            allowed, (tokens, updated) = _taken(row or (float(capacity), now), capacity, refill_per_second, now)
            full_at = updated + (capacity - tokens) / refill_per_second if refill_per_second > 0 else float("inf")
            db.execute("INSERT INTO clauseguard_rate_buckets (namespace, key, tokens, updated, full_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET tokens = excluded.tokens, "
                       "updated = excluded.updated, full_at = excluded.full_at",
                       (self.namespace, key, tokens, updated, full_at))
            self._takes += 1
            if self._takes % CLEAN_UP_EVERY == 0:  # buckets full again are as good as absent
                db.execute("DELETE FROM clauseguard_rate_buckets WHERE namespace = ? AND full_at <= ?",
                           (self.namespace, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return allowed


class PostgresBucketStore:
    """Buckets in a PostgreSQL table, shared by the workers of every host that reaches the database. A take
    is one transaction that locks the bucket's row (an upsert that returns it), and time is the database
    server's (``clock_timestamp()``), not the guard's: the hosts' clocks need not agree. The table
    (``clauseguard_rate_buckets``) is created when missing; buckets full again are deleted now and then, in
    a transaction of their own that skips rows a take holds. ``url`` is an SQLAlchemy URL
    (``postgresql+psycopg://...``) or an engine. A take the database refuses, or that waits for a lock, a
    statement or a connection longer than ``timeout`` seconds, raises: the guard fails closed. A process
    forked after the store was made opens connections of its own."""

    _CREATE = ("CREATE TABLE IF NOT EXISTS clauseguard_rate_buckets (namespace TEXT NOT NULL, key TEXT NOT NULL, "
               "tokens DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL, "
               "full_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (namespace, key))")
    # The row, locked: a new one is inserted full; an existing one is "updated" to itself, which locks it and
    # returns it whatever another transaction did meanwhile (a clean-up that deleted it: then it is new).
    _LOCK = ("INSERT INTO clauseguard_rate_buckets AS b (namespace, key, tokens, updated, full_at) "
             "VALUES (:ns, :key, :cap, EXTRACT(EPOCH FROM clock_timestamp()), 0) "
             "ON CONFLICT (namespace, key) DO UPDATE SET tokens = b.tokens "
             "RETURNING b.tokens, b.updated, EXTRACT(EPOCH FROM clock_timestamp())::double precision")
    _CLEAN_UP = ("DELETE FROM clauseguard_rate_buckets WHERE ctid IN (SELECT ctid FROM clauseguard_rate_buckets "
                 "WHERE namespace = :ns AND full_at <= :now FOR UPDATE SKIP LOCKED)")

    def __init__(self, url: str | Any, *, namespace: str = "", timeout: float = 5.0) -> None:
        from sqlalchemy import text

        self.engine = _postgres_engine(url, timeout) if isinstance(url, str) else url
        self.namespace = namespace
        self._takes = 0
        self._pid = os.getpid()
        with self.engine.begin() as conn:
            # CREATE TABLE IF NOT EXISTS is not safe against itself: workers starting together can both pass
            # the check and one fails on the catalogue's unique index. A lock held to the end of the
            # transaction makes them create the table one after another.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('clauseguard_rate_buckets'))"))
            conn.execute(text(self._CREATE))

    def take(self, key: str, *, capacity: int, refill_per_second: float, now: float) -> bool:
        """``now`` (the guard's clock) is not read: the database's clock is the one all hosts share."""
        from sqlalchemy import text

        if self._pid != os.getpid():  # a pooled connection never crosses a fork: the parent may be using it
            self.engine.dispose(close=False)
            self._pid = os.getpid()
        names = {"ns": self.namespace, "key": key}
        with self.engine.begin() as conn:
            tokens, updated, db_now = conn.execute(text(self._LOCK), {**names, "cap": float(capacity)}).one()
            allowed, (tokens, updated) = _taken((tokens, updated), capacity, refill_per_second, db_now)
            full_at = updated + (capacity - tokens) / refill_per_second if refill_per_second > 0 else float("inf")
            conn.execute(text("UPDATE clauseguard_rate_buckets SET tokens = :tokens, updated = :updated, "
                              "full_at = :full_at WHERE namespace = :ns AND key = :key"),
                         {**names, "tokens": tokens, "updated": updated, "full_at": full_at})
        self._takes += 1
        if self._takes % CLEAN_UP_EVERY == 0:  # buckets full again are as good as absent
            with self.engine.begin() as conn:
                conn.execute(text(self._CLEAN_UP), {"ns": self.namespace, "now": db_now})
        return allowed


def _postgres_engine(url: str, timeout: float) -> Any:
    """An engine for ``url`` whose connections give up after ``timeout`` seconds: connecting (unless the URL
    sets ``connect_timeout``), waiting for a row lock, or running a statement."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    parsed = make_url(_postgres_url(url))
    args = {} if "connect_timeout" in parsed.query else {"connect_timeout": max(1, math.ceil(timeout))}
    engine = create_engine(parsed, pool_pre_ping=True, connect_args=args)
    ms = max(1, round(timeout * 1000))

    @event.listens_for(engine, "connect")
    def _timeouts(connection: Any, record: Any) -> None:  # per connection, not per take: no extra round trip
        autocommit, connection.autocommit = connection.autocommit, True
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {ms}")
            cursor.execute(f"SET statement_timeout = {ms}")
        connection.autocommit = autocommit

    return engine


def _postgres_url(url: str) -> str:
    """``url`` if it is a PostgreSQL URL SQLAlchemy reads, else a ValueError that says how to write one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    fix = "write postgresql+psycopg://user:password@host/database, or sqlite:///path for a file"
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ValueError(f"not a database URL SQLAlchemy reads: {fix}") from err
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise ValueError(f"postgres:// is an old spelling SQLAlchemy no longer reads: {fix}")
    if backend != "postgresql":
        raise ValueError(f"shared rate-limit buckets need a PostgreSQL URL or a SQLite file, not a {backend} URL: "
                         + fix)
    if "@" in (parsed.host or ""):
        raise ValueError("the user name or password holds an '@': percent-encode it as %40 in the URL")
    return url


def share_rate_limits(pipeline: Pipeline, where: str | Path, *, timeout: float = 5.0) -> Pipeline:
    """Puts every rate_limit guard of ``pipeline`` on a shared store, one namespace per guard id: a
    :class:`PostgresBucketStore` when ``where`` is a PostgreSQL URL (``postgresql+psycopg://...``: the
    workers of several hosts), else a :class:`SqliteBucketStore` at the path ``where`` (or
    ``sqlite:///path``: the processes of one host). Another URL is a ValueError. A take waits at most
    ``timeout`` seconds for the file's or the row's lock (and for the database), then fails closed.

    A bucket is found by the user's key, or by the pseudonym of their address: the processes must make
    the same pseudonyms, so set ``CLAUSEGUARD_HASH_KEY`` for them all (without it each process has a random
    key, and each user another bucket in every process). The HTTP service pseudonymises addresses itself,
    with ``CLAUSEGUARD_PSEUDONYM_KEYS``."""
    where = str(where)
    engine = None
    if "://" in where and not where.startswith("sqlite:///"):
        if where.startswith("sqlite:"):
            raise ValueError("a SQLite URL has three slashes before its path (sqlite:///buckets.sqlite3), "
                             f"not {where!r}")
        engine = _postgres_engine(where, timeout)  # one pool for this pipeline's guards
    path = where.removeprefix("sqlite:///")
    for guard in pipeline.guards:
        if isinstance(guard, RateLimitGuard):
            guard.store = (PostgresBucketStore(engine, namespace=guard.id) if engine is not None
                           else SqliteBucketStore(path, namespace=guard.id, timeout=timeout))
    return pipeline


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
        if context.ip_group:  # already a keyed pseudonym of the client's network (the HTTP service's)
            return context.ip_group
        if context.ip:  # key: ip, or key: user for a caller with no user key
            return pseudonymise("ip", ip_bucket(context.ip))
        return "anonymous"

    @property
    def retry_after(self) -> int:
        """Seconds until a spent bucket has a token again, at most: ``1 / refill_per_second``, rounded up."""
        return max(1, math.ceil(1 / self.params.refill_per_second - 1e-9))

    def check(self, content: str | bytes, context: Context) -> Verdict:
        """A spent bucket blocks (or flags) with ``metadata`` ``{"rate_limited": True, "retry_after": seconds}``,
        what an HTTP backend needs for a 429 and its ``Retry-After`` header (only when the verdict is not
        allowed: a flagged request goes on)."""
        allowed = self.store.take(self._key(context), capacity=self.params.capacity,
                                  refill_per_second=self.params.refill_per_second, now=self.clock())
        if allowed:
            return Verdict.allow(content, self.id)
        wait = self.retry_after
        message = self.spec.message or self._default_message(wait)
        return self.verdict(content, [self.finding(None, score=1.0, message=message)],
                            metadata={"rate_limited": True, "retry_after": wait})

    def _default_message(self, wait: int) -> str:
        """Without a ``message``: a block says to wait and how long; a flag lets the request through, so it
        says only that the limit was passed, as the generated message for ``on_fail: flag`` does."""
        limit = f"rate limit of {self.params.capacity} requests (+{self.params.refill_per_second:g}/s)"
        if self.spec.on_fail is Action.FLAG:
            return f"Over the rate limit: {limit} reached; flagged."
        return f"Too many requests: {limit} reached; try again in {wait} {'second' if wait == 1 else 'seconds'}."
