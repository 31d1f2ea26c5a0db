"""Helper process for test_fault.py: writes notices and audit records as fast as it can, printing
each acknowledgement (``N <reference>`` / ``A <seq>``) only after its commit returned."""

from __future__ import annotations

import sys

from clauseguard.guards.records import AuditEntry, RecordStore, append, file_notice

NOTICE = {"regime": "take_it_down", "signature": "/x/", "depiction": "photo", "urls": ["https://e.x/1"],
          "non_consent_statement": True, "contact": {"name": "X", "email": "x@e.x"}}


def main(url: str) -> None:
    store = RecordStore.open(url)
    print("READY", flush=True)
    for i in range(100_000):
        ack = file_notice(store, NOTICE)
        print("N", ack.reference, flush=True)
        result = append(store, AuditEntry(action="block", allowed=False, request_id=f"burst-{i}"))
        print("A", result.seq, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
