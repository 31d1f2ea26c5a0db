"""Shared rate-limit buckets: a SQLite file the processes and threads of one host share, and a PostgreSQL
table the workers of several hosts share (when ``CLAUSEGUARD_TEST_POSTGRES_URL`` is set, as CI sets it:
``eval "$(scripts/ci_postgres.sh)"``), so N workers allow a user the guard's capacity once, not N times.
The SQLite store decides exactly as the in-memory one; the PostgreSQL one on the database's clock."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from clauseguard.guards import Context, GuardSpec, Pipeline, create, rate_limit
from clauseguard.guards.rate_limit import (
    MemoryBucketStore,
    PostgresBucketStore,
    SqliteBucketStore,
    share_rate_limits,
)
from tests.concurrency import start_together
from tests.postgres import BACKENDS, PG_URL, schema_url


@pytest.fixture(params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the buckets go: a SQLite file, or a PostgreSQL URL on a schema of its own."""
    if request.param == "sqlite":
        yield str(tmp_path / "buckets.sqlite3")
        return
    with schema_url("rl_") as url:
        yield url


def _store(where: str, namespace: str = "") -> SqliteBucketStore | PostgresBucketStore:
    spec = GuardSpec(id=namespace or "rl", type="rate_limit", params={"capacity": 1, "refill_per_second": 1})
    store = share_rate_limits(Pipeline([create(spec)]), where).guards[0].store
    store.namespace = namespace
    return store


def test_it_decides_as_the_memory_store(tmp_path: Path) -> None:
    rng = random.Random(7)
    memory, shared = MemoryBucketStore(), SqliteBucketStore(tmp_path / "b.sqlite3")
    now = 0.0
    for _ in range(400):
        now += rng.choice([0.0, 0.01, 0.3, 2.0, -0.5])  # a clock may step back: time is not counted twice
        key = rng.choice(["a", "b", "c"])
        kwargs = {"capacity": 3, "refill_per_second": 0.7, "now": now}
        assert shared.take(key, **kwargs) == memory.take(key, **kwargs)


def test_namespaces_keep_two_guards_apart(shared: str) -> None:
    one, two = _store(shared, "g1"), _store(shared, "g2")
    assert [one.take("u", capacity=1, refill_per_second=0, now=0) for _ in range(2)] == [True, False]
    assert two.take("u", capacity=1, refill_per_second=0, now=0)


def test_threads_share_one_limit(shared: str) -> None:
    store = _store(shared)
    allowed: list[bool] = []

    def worker() -> None:
        for _ in range(20):
            allowed.append(store.take("u", capacity=50, refill_per_second=0.0, now=0.0))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(allowed) == 160 and sum(allowed) == 50


PROCESS = """
import sys
from clauseguard.guards import Context, GuardSpec, Pipeline, create
from clauseguard.guards.rate_limit import share_rate_limits
spec = GuardSpec(id="rl", type="rate_limit", params={"capacity": 30, "refill_per_second": 0.0001})
pipeline = share_rate_limits(Pipeline([create(spec)]), sys.argv[1])
print(sum(pipeline.check_input("hi", Context(user_key="dana")).allowed for _ in range(40)))
"""


def test_processes_share_one_limit(shared: str) -> None:
    """Three workers, 40 requests each from one user, a capacity of 30: 30 get through in all, not 90."""
    workers = [subprocess.Popen([sys.executable, "-c", PROCESS, shared], stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    counts = [int(w.communicate(timeout=120)[0]) for w in workers]
    assert sum(counts) == 30 and all(w.returncode == 0 for w in workers)


def test_stores_opening_one_new_file_together_all_open(tmp_path: Path) -> None:
    """SQLite refuses a switch to write-ahead logging at once ("database is locked", without waiting out the
    timeout) when another connection is switching the same file: in CI two of six workers starting together
    failed so. Six threads at a time, 60 new files: every store opens."""
    failed: list[str] = []
    for round_ in range(60):
        path = tmp_path / f"{round_}.sqlite3"
        failed += start_together(lambda path=path: SqliteBucketStore(path, timeout=5.0), threads=6)
    assert failed == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_starting_together_all_start(tmp_path: Path, backend: str) -> None:
    """Six workers opening a new store at once: CREATE TABLE IF NOT EXISTS is not safe against itself on
    PostgreSQL (one failed on the catalogue's unique index in about half such starts), so it runs under a
    lock; on SQLite the file's own locking serialises it."""
    for round_ in range(4):
        with (schema_url("rs_") if backend == "postgresql" else _path(tmp_path / f"{round_}.sqlite3")) as where:
            workers = [subprocess.Popen([sys.executable, "-c", PROCESS, where], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True) for _ in range(6)]
            outputs = [w.communicate(timeout=120) for w in workers]
            assert [w.returncode for w in workers] == [0] * 6, [err[-300:] for _, err in outputs]
            assert sum(int(out) for out, _ in outputs) == 30


@contextmanager
def _path(path: Path) -> Iterator[str]:
    yield str(path)


def test_full_buckets_are_deleted_now_and_then(tmp_path: Path) -> None:
    store = SqliteBucketStore(tmp_path / "b")
    for n in range(1023):
        store.take(f"user{n}", capacity=2, refill_per_second=1.0, now=0.0)
    rows = sqlite3.connect(tmp_path / "b").execute("SELECT count(*) FROM clauseguard_rate_buckets")
    assert rows.fetchone()[0] == 1023
    store.take("late", capacity=2, refill_per_second=1.0, now=10.0)  # the 1024th take: the others are full
    rows = sqlite3.connect(tmp_path / "b").execute("SELECT key FROM clauseguard_rate_buckets")
    assert [r[0] for r in rows] == ["late"]


def test_a_locked_file_fails_closed(tmp_path: Path) -> None:
    """Another process holds the write lock past the timeout: the take raises, so the pipeline blocks."""
    path = tmp_path / "b.sqlite3"
    spec = GuardSpec(id="rl", type="rate_limit", params={"capacity": 5, "refill_per_second": 1})
    pipeline = share_rate_limits(Pipeline([create(spec)]), path, timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        verdict = pipeline.check_input("hi", Context(user_key="erin"))
    finally:
        holder.execute("ROLLBACK")
    assert not verdict.allowed
    assert pipeline.check_input("hi", Context(user_key="erin")).allowed  # the lock gone, it counts again


def test_share_rate_limits_puts_each_guard_on_its_own_namespace(tmp_path: Path) -> None:
    specs = [GuardSpec(id=i, type="rate_limit", params={"capacity": 1, "refill_per_second": 0.001})
             for i in ("per-user", "per-ip")]
    pipeline = share_rate_limits(Pipeline([create(s) for s in specs]), tmp_path / "b")
    assert [g.store.namespace for g in pipeline.guards] == ["per-user", "per-ip"]
    assert all(isinstance(g.store, SqliteBucketStore) for g in pipeline.guards)
    with pytest.raises(sqlite3.OperationalError):
        SqliteBucketStore(tmp_path / "no" / "such" / "folder" / "b")


def test_postgres_buckets_refill_on_the_databases_clock(shared: str) -> None:
    """The guard's clock is not read (the hosts' clocks need not agree): a bucket refills as the
    database's time passes, whatever ``now`` says. On SQLite, the guard's clock refills it."""
    store = _store(shared)
    postgres = isinstance(store, PostgresBucketStore)
    take = [lambda now: store.take("u", capacity=1, refill_per_second=20.0, now=now)][0]
    assert [take(0.0), take(0.0)] == [True, False]
    time.sleep(0.2)  # four tokens' worth of time, capped at the capacity of one
    assert [take(0.0 if postgres else 0.2), take(0.0 if postgres else 0.2)] == [True, False]


def test_other_urls_are_refused(tmp_path: Path) -> None:
    spec = GuardSpec(id="rl", type="rate_limit", params={"capacity": 1, "refill_per_second": 1})
    with pytest.raises(ValueError, match="need a PostgreSQL URL or a SQLite file, not a mysql URL"):
        share_rate_limits(Pipeline([create(spec)]), "mysql+pymysql://u:p@127.0.0.1/db")
    store = share_rate_limits(Pipeline([create(spec)]), f"sqlite:///{tmp_path / 'b.sqlite3'}").guards[0].store
    assert isinstance(store, SqliteBucketStore) and store.path == tmp_path / "b.sqlite3"


def test_a_restart_of_the_host_empties_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The monotonic clock starts again at a reboot: a bucket written before it was "ahead" of the new clock
    for as long as the host had been up, so it neither refilled nor was ever deleted. The file notes the boot,
    and the first store opened after a restart empties it (as a restarted process's memory store is empty)."""
    path = tmp_path / "b.sqlite3"
    monkeypatch.setattr(rate_limit, "_boot", lambda: "boot-1")
    store = SqliteBucketStore(path)
    take = [lambda s, now: s.take("u", capacity=2, refill_per_second=0.001, now=now)][0]
    assert [take(store, 2_592_000.0) for _ in range(3)] == [True, True, False]  # a month of uptime
    assert not take(SqliteBucketStore(path), 2_592_001.0)  # another process, the same boot: the same bucket
    monkeypatch.setattr(rate_limit, "_boot", lambda: "boot-2")
    again = SqliteBucketStore(path)
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM clauseguard_rate_buckets").fetchone()[0]
    assert rows == 0 and [take(again, 60.0) for _ in range(3)] == [True, True, False]


def test_the_boot_is_known() -> None:
    assert rate_limit._boot() == rate_limit._boot() != ""


@pytest.mark.parametrize(("where", "message"), [
    (":memory:", "need a file, not ':memory:'"),
    ("sqlite:///:memory:", "need a file, not ':memory:'"),
    ("file::memory:?cache=shared", "need a file"),
    ("sqlite://buckets.sqlite3", "three slashes"),
    ("postgres://ops:pw@db.example/rl", "postgres:// is an old spelling .* postgresql\\+psycopg://"),
    ("postgresql+psycopg://ops:S3C@RET@127.0.0.1:1/rl", "percent-encode it as %40"),
])
def test_stores_that_cannot_work_are_refused_with_how_to_write_them(where: str, message: str) -> None:
    """An in-memory SQLite database is each connection's own (every request failed on a missing table);
    the other spellings are mistakes whose messages said nothing of the fix, or printed part of a password."""
    spec = GuardSpec(id="rl", type="rate_limit", params={"capacity": 1, "refill_per_second": 1})
    with pytest.raises(ValueError, match=message) as err:
        share_rate_limits(Pipeline([create(spec)]), where)
    assert "S3C" not in str(err.value) and "RET" not in str(err.value)


needs_postgres = pytest.mark.skipif(PG_URL is None, reason="needs CLAUSEGUARD_TEST_POSTGRES_URL")


@needs_postgres
def test_postgres_clean_ups_never_fail_a_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean-up deleted a full row between a take's insert and its SELECT ... FOR UPDATE (the take found
    no row and raised), and two clean-ups each holding a row deadlocked. The row is now locked by the upsert
    that returns it, and clean-ups skip locked rows in a transaction of their own."""
    monkeypatch.setattr(rate_limit, "CLEAN_UP_EVERY", 1)  # every take cleans up
    with schema_url("rc_") as url:
        stores = [_store(url) for _ in range(4)]  # four workers' pools
        errors: list[BaseException] = []

        def worker(store: PostgresBucketStore, n: int) -> None:
            for i in range(60):
                try:
                    store.take(f"u{(n + i) % 3}", capacity=1, refill_per_second=1000.0, now=0.0)
                except BaseException as err:  # every failure is the finding
                    errors.append(err)

        threads = [threading.Thread(target=worker, args=(stores[n % 4], n)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


@needs_postgres
def test_postgres_take_gives_up_after_the_timeout_and_fails_closed() -> None:
    """A row held by another transaction (a stuck worker, an operator's psql) made every check on it wait
    for ever, then the pool ran out for everyone. A take now waits ``timeout`` seconds, then raises."""
    from sqlalchemy import create_engine, text

    spec = GuardSpec(id="rl", type="rate_limit", params={"capacity": 5, "refill_per_second": 1})
    with schema_url("rt_") as url:
        pipeline = share_rate_limits(Pipeline([create(spec)]), url, timeout=0.5)
        assert pipeline.check_input("hi", Context(user_key="erin")).allowed
        holder = create_engine(url)
        with holder.connect() as conn, conn.begin():
            conn.execute(text("SELECT * FROM clauseguard_rate_buckets FOR UPDATE"))
            started = time.monotonic()
            verdict = pipeline.check_input("hi", Context(user_key="erin"))
            waited = time.monotonic() - started
        holder.dispose()
        assert not verdict.allowed and 0.4 < waited < 5.0
        assert pipeline.check_input("hi", Context(user_key="erin")).allowed


def _forked_takes(url_store: PostgresBucketStore, out: Any) -> None:
    out.put(sum(url_store.take("u", capacity=100, refill_per_second=0.0, now=0.0) for _ in range(20)))


@needs_postgres
def test_postgres_store_made_before_a_fork_works_in_the_children() -> None:
    """gunicorn --preload or multiprocessing: the parent's pooled connection was shared with the children,
    whose protocol streams then mixed ("server closed the connection unexpectedly")."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    with schema_url("rf_") as url:
        store = _store(url)
        assert store.take("u", capacity=100, refill_per_second=0.0, now=0.0)  # the parent's pool holds one
        out = fork.Queue()
        children = [fork.Process(target=_forked_takes, args=(store, out)) for _ in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [c.exitcode for c in children] == [0] * 4
        assert sum(out.get(timeout=5) for _ in children) == 80
        assert store.take("u", capacity=100, refill_per_second=0.0, now=0.0)  # the parent's still works
