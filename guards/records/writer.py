"""Group commit for the audit log: one background thread appends queued records in batches.

A durable append costs one ``fsync`` (about 5 ms on SQLite with ``synchronous=FULL``), so one
transaction per decision caps a server at about 200 decisions a second however many cores it has.
:class:`AuditWriter` takes records from a bounded queue and appends them with
:func:`~clauseguard.guards.records._chain.append_many`: one transaction per batch, the chain numbered
and hashed in queue order inside it, the head moved once. A batch closes when it holds ``max_batch``
records or ``max_wait`` seconds after its first record arrived, whichever comes first.

Contract:

- **Order and integrity.** Records are chained in the order :meth:`~AuditWriter.submit` queued them,
  and each record's time is taken when it is queued, so times never go backwards along the chain.
  Other writers (:func:`append`, a purge) take the same lock, so the chain never forks.
- **Durability.** :meth:`~AuditWriter.submit` returns a :class:`~concurrent.futures.Future` that is
  resolved once the record's batch is committed. A caller that does not wait for it may lose, on a
  crash, the records queued in the last ``max_wait`` plus one commit (normally under 20 ms) — never a
  committed one, and never half a batch: the chain still verifies.
- **Back-pressure, never a silent drop.** When ``max_queue`` records are waiting, :meth:`submit`
  blocks; after ``put_timeout`` seconds it raises :class:`RecordsError`, so the caller fails instead of
  going on unaudited. A record that cannot be stored (raw IP, NaN) is refused by :meth:`submit` itself.
- **Failures.** A batch that fails to commit for a reason that may pass (an ``OperationalError``: the
  database is locked, busy, full or unreachable) is retried with back-off until it succeeds;
  ``last_error`` says what is wrong meanwhile (``healthy`` is False). Such a failure may come after
  the database committed (the connection dropped before its answer to COMMIT arrived), so each retry
  first looks for the batch in the log above the last seq this writer committed, and resolves it
  from there instead of writing every record twice. Any other error (a value the
  database refuses) would fail every retry, so it is not retried: the records of that batch are
  written one by one, and only those that still fail are given up, their futures failed with a
  :class:`RecordsError`; the records queued after them go on being written.
- **Shutdown.** :meth:`close` stops new records and drains the queue; if records are still unwritten
  after its ``timeout``, it gives them up and raises a :class:`RecordsError` that counts them (those
  still queued plus those abandoned mid-retry). An ``atexit`` hook drains a writer nobody closed.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from datetime import UTC, datetime

from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from clauseguard.errors import RecordsError
from clauseguard.guards.records._chain import (
    AppendResult,
    AuditEntry,
    PreparedRecord,
    append_many,
    find_appended,
    prepare,
)
from clauseguard.guards.records.store import RecordStore

__all__ = ["AuditWriter"]

log = logging.getLogger(__name__)

_Item = tuple[PreparedRecord, "Future[AppendResult]"]

# Failures that may pass if the batch is tried again: locked, busy, full, unreachable (RecordsError: the
# store's own wrapping of those). Anything else is a record the database refuses; retrying cannot help.
_TRANSIENT = (OperationalError, DisconnectionError, PoolTimeoutError, RecordsError, OSError)


def _transient(err: BaseException) -> bool:
    return isinstance(err, _TRANSIENT)


class AuditWriter:
    """Queue audit records and append them in batches from one background thread (group commit)."""

    def __init__(self, store: RecordStore, *, max_batch: int = 256, max_wait: float = 0.005,
                 max_queue: int = 10_000, put_timeout: float | None = 30.0, retry_max: float = 2.0) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait < 0 or retry_max <= 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait >= 0, retry_max > 0")
        self.store = store
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.put_timeout, self.retry_max = put_timeout, retry_max
        self.failures = 0  # failed commit attempts so far (transient ones are retried)
        self.lost = 0  # records given up (refused by the database, or abandoned by close)
        self.last_error: BaseException | None = None  # the current failure; None once a commit succeeds
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._progress = threading.Condition(self._lock)
        self._items: deque[_Item] = deque()
        self._submitted = self._done = 0
        self._closed = False
        self._abandon = threading.Event()  # set when close() timed out: fail batches instead of retrying
        self._floor = 0  # the last seq this writer committed: a batch of its own that committed later is above it
        self._thread = threading.Thread(target=self._run, name="clauseguard-audit-writer", daemon=True)
        self._thread.start()
        atexit.register(self._close_at_exit)

    # -- producers ------------------------------------------------------------------------------

    def submit(self, entry: AuditEntry | PreparedRecord, *, now: datetime | None = None) -> Future[AppendResult]:
        """Queue one record; the future resolves to its seq and hash once its batch is committed.

        Blocks while the queue is full (back-pressure); raises :class:`RecordsError` if it stays full
        for ``put_timeout`` seconds or the writer is closed. ``now`` fixes the record's time (imports).
        """
        record = entry if isinstance(entry, PreparedRecord) else prepare(entry, now)
        future: Future[AppendResult] = Future()
        with self._lock:
            self._wait_for_room()
            if now is None and not isinstance(entry, PreparedRecord):
                record = record.at(datetime.now(UTC))  # stamped under the lock: times follow seq
            self._items.append((record, future))
            self._submitted += 1
            if len(self._items) in (1, self.max_batch):
                self._not_empty.notify()
        return future

    def append(self, entry: AuditEntry, *, timeout: float | None = None) -> AppendResult:
        """Queue one record and wait for its commit (group commit with many threads calling this)."""
        return self.submit(entry).result(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every record queued so far is committed (or given up by :meth:`close`)."""
        with self._lock:
            target = self._submitted
            if not self._progress.wait_for(lambda: self._done >= target, timeout):
                raise RecordsError(f"audit records not committed within {timeout} s "
                                   f"({target - self._done} waiting; last error: {self.last_error})")

    def close(self, timeout: float | None = None) -> None:
        """Refuse new records, drain the queue, stop the thread. Idempotent."""
        with self._lock:
            self._closed = True
            lost_before = self.lost
            self._not_empty.notify_all()
            self._not_full.notify_all()
        self._thread.join(timeout)
        atexit.unregister(self._close_at_exit)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(self.retry_max + 1.0)
            with self._lock:
                unwritten = self._submitted - self._done + self.lost - lost_before
                error = self.last_error
            raise RecordsError(f"audit writer did not drain within {timeout} s: {unwritten} records were "
                               f"not committed (last error: {error})")

    @property
    def pending(self) -> int:
        """Records queued or being written, not yet committed."""
        with self._lock:
            return self._submitted - self._done

    @property
    def healthy(self) -> bool:
        """False while commits fail (they are being retried)."""
        return self.last_error is None and not self._abandon.is_set()

    def __enter__(self) -> AuditWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_for_room(self) -> None:
        deadline = None if self.put_timeout is None else time.monotonic() + self.put_timeout
        while len(self._items) >= self.max_queue and not self._closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise RecordsError(f"audit queue full ({self.max_queue} records) for {self.put_timeout} s; "
                                   f"the record was not accepted (last error: {self.last_error})")
            self._not_full.wait(remaining)
        if self._closed:
            raise RecordsError("the audit writer is closed; the record was not accepted")

    def _close_at_exit(self) -> None:
        try:
            self.close(timeout=10.0)
        except RecordsError as err:
            log.error("%s", err)

    # -- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while batch := self._take():
            self._write(batch)

    def _take(self) -> list[_Item]:
        """The next batch; waits for a first record, then up to ``max_wait`` for more. Empty: stop."""
        with self._lock:
            while not self._items and not self._closed:
                self._not_empty.wait()
            deadline = time.monotonic() + self.max_wait
            while 0 < len(self._items) < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._not_empty.wait(remaining)
            batch = [self._items.popleft() for _ in range(min(len(self._items), self.max_batch))]
            self._not_full.notify_all()
            return batch

    def _write(self, batch: list[_Item], unsure: bool = False) -> None:
        """Append ``batch``, retrying while the failure may pass. ``unsure``: an earlier attempt failed in a
        way that may have committed it (the database's answer to COMMIT lost), so look for it first."""
        delay = 0.05
        records = [record for record, _ in batch]
        while True:
            try:
                results = self._appended(records) if unsure else None
                if results is None:
                    results = append_many(self.store, records)
            except Exception as err:  # reported through last_error; retried unless retrying cannot help
                retry = _transient(err) and not self._abandon.is_set()
                unsure = unsure or _transient(err)
                self._failed(err, len(batch), delay if retry else None)
                if retry:
                    self._abandon.wait(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
                if len(batch) > 1 and not _transient(err):
                    for item in batch:  # find the record the database refuses; write the others
                        self._write([item], unsure)
                    return
                self._finish(batch, error=err)
                return
            self._floor = results[-1].seq
            self._finish(batch, results=results)
            return

    def _appended(self, records: list[PreparedRecord]) -> list[AppendResult] | None:
        """The results of ``records`` if a failed attempt did commit them (see :func:`find_appended`)."""
        with self.store.transaction() as conn:
            found = find_appended(conn, records, after=self._floor)
        if found is not None:
            log.warning("audit append of %d records had committed although it reported a failure; "
                        "not written again", len(records))
        return found

    def _failed(self, err: Exception, size: int, delay: float | None) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = err
        then = "not retried" if delay is None else f"retrying in {delay:.2f} s"
        log.error("audit append of %d records failed (%s: %s); %s", size, type(err).__name__, err, then)

    def _finish(self, batch: list[_Item], *, results: list[AppendResult] | None = None,
                error: Exception | None = None) -> None:
        with self._lock:
            self._done += len(batch)
            if results is not None:
                self.last_error = None
            else:
                self.lost += len(batch)
            self._progress.notify_all()
        for i, (_, future) in enumerate(batch):
            if results is not None:
                future.set_result(results[i])
            else:
                future.set_exception(RecordsError(f"audit record not committed: {error}"))
