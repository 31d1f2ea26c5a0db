"""Helper process for test_fault.py: writes notices and audit records as fast as it can, printing
each acknowledgement (``N <reference>`` / ``A <seq>``) only after its commit returned.

``direct`` appends each audit record in its own transaction; ``group`` queues them on an
:class:`AuditWriter` (20 per notice) and prints ``A <seq>`` from the future's callback, which runs
only once the record's batch is committed.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future

from clauseguard.guards.records import AppendResult, AuditEntry, AuditWriter, RecordStore, append, file_notice

NOTICE = {"regime": "take_it_down", "signature": "/x/", "depiction": "photo", "urls": ["https://e.x/1"],
          "non_consent_statement": True, "contact": {"name": "X", "email": "x@e.x"}}
_print_lock = threading.Lock()


def _say(*words: object) -> None:
    with _print_lock:
        print(*words, flush=True)


def _acked(future: Future[AppendResult]) -> None:
    _say("A", future.result().seq)


def main(url: str, mode: str) -> None:
    store = RecordStore.open(url)
    writer = AuditWriter(store, max_wait=0.002) if mode == "group" else None
    _say("READY")
    for i in range(100_000):
        ack = file_notice(store, NOTICE)
        _say("N", ack.reference)
        if writer is None:
            _say("A", append(store, AuditEntry(action="block", allowed=False, request_id=f"burst-{i}")).seq)
            continue
        for j in range(20):
            entry = AuditEntry(action="block", allowed=False, request_id=f"burst-{i}-{j}")
            writer.submit(entry).add_done_callback(_acked)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "direct")
