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

import pytest

from clauseguard.guards import Context, GuardSpec, Pipeline, create
from clauseguard.guards.rate_limit import (
    MemoryBucketStore,
    PostgresBucketStore,
    SqliteBucketStore,
    share_rate_limits,
)
from tests.postgres import BACKENDS, schema_url


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
