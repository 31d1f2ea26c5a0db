"""Group commit: append_many and AuditWriter (order, atomic refusal, back-pressure, retries, drain)."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import DataError, OperationalError

from clauseguard.errors import RawIpError, RecordsError
from clauseguard.guards.records import (
    AuditEntry,
    AuditSink,
    AuditWriter,
    RecordStore,
    append,
    append_many,
    iter_records,
    verify,
)
from clauseguard.guards.records import writer as writer_module
from clauseguard.guards.records._chain import append_in, find_appended, prepare


def _entry(i: int, **extra: Any) -> AuditEntry:
    return AuditEntry(action="allow", allowed=True, request_id=f"r{i}", **extra)


@pytest.fixture
def writer(store: RecordStore) -> Iterator[AuditWriter]:
    w = AuditWriter(store, max_wait=0.002)
    yield w
    w.close(timeout=30)


def test_append_many_is_one_chained_batch(store: RecordStore) -> None:
    append(store, _entry(0))
    results = append_many(store, [_entry(i) for i in range(1, 6)])
    assert [r.seq for r in results] == [2, 3, 4, 5, 6]
    assert verify(store).ok and verify(store).checked == 6
    assert append_many(store, []) == []


@pytest.mark.parametrize(("bad", "error"), [
    (_entry(9, user_key="198.51.100.4"), RawIpError),
    (_entry(9, score=math.nan), ValueError),
    (AuditEntry(action="allow", allowed=True, request_id="\ud800"), ValueError),  # no UTF-8 for it
])
def test_a_bad_record_refuses_the_whole_batch_before_writing(store: RecordStore, bad: AuditEntry,
                                                            error: type[Exception]) -> None:
    with pytest.raises(error):
        append_many(store, [_entry(1), bad, _entry(2)])
    assert list(iter_records(store)) == []
    assert verify(store).ok


@pytest.mark.parametrize(("bad", "error"), [
    (_entry(9, user_key="2001:db8::1"), RawIpError),
    (_entry(9, score=math.inf), ValueError),
    (_entry(9, findings=({"note": "a\udc80b"},)), ValueError),
])
def test_writer_refuses_a_bad_record_in_the_caller(writer: AuditWriter, bad: AuditEntry,
                                                  error: type[Exception]) -> None:
    with pytest.raises(error):
        writer.submit(bad)
    assert writer.append(_entry(1)).seq == 1


@pytest.mark.parametrize(("entry", "field"), [
    (AuditEntry(action="allow", allowed=True, request_id="\ud800"), "request_id"),
    (_entry(1, guard_id="kw\udfff"), "guard_id"),
    (_entry(1, findings=({"guard_id": "\ud83d"},)), "findings"),
])
def test_prepare_names_the_field_utf8_cannot_carry(entry: AuditEntry, field: str) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        prepare(entry)


@pytest.mark.parametrize(("entry", "field"), [
    (AuditEntry(action="allow", allowed=True, request_id="r" * 201), "request_id"),
    (_entry(1, guard_id="g" * 201), "guard_id"),
    (_entry(1, stage="s" * 21), "stage"),
    (AuditEntry(action="a" * 21, allowed=True), "action"),
])
def test_a_value_longer_than_its_column_is_refused_in_the_caller(store: RecordStore, entry: AuditEntry,
                                                                 field: str) -> None:
    """PostgreSQL refused it (VARCHAR(200)) inside the writer's batch, after the guard's verdict was given,
    and the record was lost; SQLite stored it, so the same chain did not fit on PostgreSQL."""
    with pytest.raises(ValueError, match=f"'{field}'.*longer than"):
        prepare(entry)
    with pytest.raises(ValueError):
        append_many(store, [_entry(1), entry])
    assert list(iter_records(store)) == []


def test_a_record_the_database_refuses_fails_at_once_and_the_rest_go_on(
        store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not retried forever: its future fails, the records batched with it and after it are written."""
    real = writer_module.append_many

    def refuses_bad(store: RecordStore, records: Any, **kwargs: Any) -> Any:
        if any(r.fields["request_id"] == "bad" for r in records):
            raise DataError("INSERT INTO audit_log", {}, Exception("value too long"))
        return real(store, records, **kwargs)

    monkeypatch.setattr(writer_module, "append_many", refuses_bad)
    w = AuditWriter(store, max_batch=3, max_wait=1.0, retry_max=10.0)
    first = [w.submit(AuditEntry(action="allow", allowed=True, request_id=name)) for name in ("r0", "bad", "r2")]
    with pytest.raises(RecordsError, match="value too long"):
        first[1].result(timeout=5)
    assert [first[0].result(timeout=5).seq, first[2].result(timeout=5).seq] == [1, 2]
    assert w.append(_entry(3), timeout=5).seq == 3
    assert (w.lost, w.healthy) == (1, True)
    w.close(timeout=5)
    assert [r["request_id"] for r in iter_records(store)] == ["r0", "r2", "r3"] and verify(store).ok


def test_threads_submit_and_the_chain_holds_in_queue_order(store: RecordStore, writer: AuditWriter) -> None:
    def work(k: int) -> None:
        for i in range(50):
            writer.submit(_entry(i, guard_id=f"t{k}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.flush(timeout=30)
    records = list(iter_records(store))
    assert (verify(store).ok, len(records), writer.pending) == (True, 200, 0)
    assert all(a["time"] <= b["time"] for a, b in itertools.pairwise(records))  # time follows seq


def test_writer_and_direct_appends_never_fork(store_url: str) -> None:
    """A writer in one 'process' and direct appends from another engine share one chain."""
    first, second = RecordStore.open(store_url), RecordStore.open(store_url)
    with AuditWriter(first, max_wait=0.001) as w:
        futures = []
        for i in range(60):
            futures.append(w.submit(_entry(i)))
            if i % 3 == 0:
                append(second, _entry(1000 + i))
        w.flush(timeout=30)
    assert sorted(f.result().seq for f in futures) == [f.result().seq for f in futures]
    result = verify(first)
    assert (result.ok, result.checked) == (True, 80)
    first.close()
    second.close()


def test_full_queue_blocks_then_refuses_loudly(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    real = writer_module.append_many

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "append_many", slow)
    w = AuditWriter(store, max_batch=1, max_wait=0, max_queue=2, put_timeout=0.2)
    accepted = [w.submit(_entry(i)) for i in range(3)]  # one being written, two queued
    started = time.monotonic()
    with pytest.raises(RecordsError, match="queue full"):
        w.submit(_entry(99))
    assert time.monotonic() - started >= 0.2
    gate.set()
    w.close(timeout=30)
    assert [f.result().seq for f in accepted] == [1, 2, 3]
    assert [r["request_id"] for r in iter_records(store)] == ["r0", "r1", "r2"]


def test_failed_commits_are_retried_not_dropped(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = writer_module.append_many, []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise RecordsError("database is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "append_many", flaky)
    w = AuditWriter(store, max_wait=0.05, retry_max=0.05)
    futures = [w.submit(_entry(i)) for i in range(5)]
    assert [f.result(timeout=30).seq for f in futures] == [1, 2, 3, 4, 5]
    assert (w.failures, w.healthy, w.last_error) == (2, True, None)
    w.close()
    assert verify(store).checked == 5


def test_close_drains_the_queue_and_then_refuses(store: RecordStore) -> None:
    w = AuditWriter(store, max_wait=10.0)  # a long wait: only close() makes the batch go
    futures = [w.submit(_entry(i)) for i in range(300)]
    w.close(timeout=30)
    assert all(f.done() for f in futures) and w.pending == 0
    assert verify(store).checked == 300
    with pytest.raises(RecordsError, match="closed"):
        w.submit(_entry(1))
    w.close()  # idempotent


def test_close_reports_what_it_could_not_write(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RecordsError("disk full")

    monkeypatch.setattr(writer_module, "append_many", broken)
    w = AuditWriter(store, max_wait=0, retry_max=0.05)
    future = w.submit(_entry(1))
    with pytest.raises(RecordsError, match="not committed"):
        w.close(timeout=0.3)
    assert not w.healthy
    with pytest.raises(RecordsError, match="disk full"):
        future.result(timeout=5)


def test_close_counts_the_records_it_abandoned(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT INTO audit_log", {}, Exception("database or disk is full"))

    monkeypatch.setattr(writer_module, "append_many", full)
    w = AuditWriter(store, max_batch=1, max_wait=0, retry_max=0.05)
    futures = [w.submit(_entry(i)) for i in range(3)]
    with pytest.raises(RecordsError, match="3 records were not committed"):
        w.close(timeout=0.3)
    assert all(isinstance(f.exception(timeout=5), RecordsError) for f in futures)


@pytest.mark.parametrize("wait_for_commit", [True, False])
def test_sink_with_a_writer(store: RecordStore, pseudonymizer: Any, wait_for_commit: bool) -> None:
    with AuditWriter(store) as w:
        sink = AuditSink(store, pseudonymizer=pseudonymizer, writer=w, wait_for_commit=wait_for_commit)
        sink.record({"action": "block", "allowed": False, "request_id": "q1", "user_key": "account-7"})
        assert sink.pending is not None
        assert (sink.last is not None) is wait_for_commit
    (rec,) = iter_records(store)
    assert (rec["request_id"], rec["user_key"].startswith("user:k2:")) == ("q1", True)


def test_a_sink_waiting_for_commit_gives_up_after_its_timeout(store: RecordStore, pseudonymizer: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The database gone: record() used to wait on the commit for ever, holding the request's thread."""
    down = threading.Event()
    real = writer_module.append_many

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        if not down.is_set():
            raise OperationalError("INSERT INTO audit_log", {}, Exception("could not connect to server"))
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "append_many", unreachable)
    with AuditWriter(store, max_wait=0, retry_max=0.05) as w:
        sink = AuditSink(store, pseudonymizer=pseudonymizer, writer=w, commit_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(RecordsError, match=r"not committed within 0.3 s.*could not connect"):
            sink.record({"action": "block", "allowed": False, "request_id": "q1"})
        assert time.monotonic() - started < 10
        down.set()  # the database is back: the queued record is written, not lost
    assert [r["request_id"] for r in iter_records(store)] == ["q1"]


@pytest.mark.parametrize("options", [{"max_batch": 0}, {"max_queue": 0}, {"max_wait": -1}, {"retry_max": 0}])
def test_bad_writer_options(store: RecordStore, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AuditWriter(store, **options)


def test_a_batch_that_committed_although_it_reported_a_failure_is_not_written_twice(
        store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The connection drops after COMMIT reached the database: the rows are stored, the client sees an error.
    real, calls = writer_module.append_many, []

    def answer_lost(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        results = real(*args, **kwargs)
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        return results

    append(store, _entry(99))  # another writer's record before the batch
    monkeypatch.setattr(writer_module, "append_many", answer_lost)
    w = AuditWriter(store, max_wait=0.05, retry_max=0.05)
    futures = [w.submit(_entry(i)) for i in range(5)]
    assert [f.result(timeout=30).seq for f in futures] == [2, 3, 4, 5, 6]
    w.submit(_entry(5)).result(timeout=30)  # the writer goes on after it
    w.close()
    assert [r["request_id"] for r in iter_records(store)] == ["r99", "r0", "r1", "r2", "r3", "r4", "r5"]
    assert len(calls) == 2 and w.failures == 1
    assert verify(store).ok and verify(store).checked == 7


def test_a_retry_after_a_failure_that_wrote_nothing_still_writes_its_batch(
        store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # After a failure the writer first looks for the batch in the log; not finding it, it writes it.
    real, calls = writer_module.append_many, []

    def unreachable_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT INTO audit_log", {}, Exception("could not connect to server"))
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "append_many", unreachable_once)
    w = AuditWriter(store, max_wait=0.05, retry_max=0.05)
    assert w.submit(_entry(0)).result(timeout=30).seq == 1
    futures = [w.submit(_entry(i)) for i in (1, 2)]
    assert [f.result(timeout=30).seq for f in futures] == [2, 3]
    w.close()
    assert [r["request_id"] for r in iter_records(store)] == ["r0", "r1", "r2"]
    assert len(calls) == 3 and verify(store).checked == 3


def test_find_appended_matches_whole_batches_only(store: RecordStore) -> None:
    records = [prepare(_entry(i)) for i in range(3)]
    with store.transaction(write=True) as conn:
        assert find_appended(conn, records) is None
        stored = append_in(conn, records)
    with store.transaction() as conn:
        assert find_appended(conn, records) == stored
        assert find_appended(conn, records, after=1) is None  # it starts at seq 1
        assert find_appended(conn, records[:2]) == stored[:2]
        assert find_appended(conn, [*records, prepare(_entry(3))]) is None  # the fourth is not there
        assert find_appended(conn, [records[0], records[2]]) is None  # not one after another
        assert find_appended(conn, [records[0].at(datetime(2026, 1, 1, tzinfo=UTC))]) is None
        assert find_appended(conn, []) == []
