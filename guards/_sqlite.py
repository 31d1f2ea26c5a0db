"""SQLite helpers shared by the record store and the shared rate-limit buckets."""

from __future__ import annotations

import time
from typing import Any


def switch_to_wal(db: Any, timeout: float) -> None:
    """Switch the file behind DB-API connection ``db`` to write-ahead logging (readers never wait on a writer).

    SQLite can refuse the switch at once, "database is locked", without waiting out its busy timeout as other
    statements do, while another connection is switching the same new file: workers starting together on one
    new file failed so (the rate-limit buckets two of six in CI; the record store in about one of six rounds of
    four threads). Tried again every 10 ms until ``timeout`` seconds have passed, then raised.
    """
    import sqlite3  # lazily: importing a guard module stays cheap

    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
