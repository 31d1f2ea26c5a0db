"""Starting threads at the same moment, for tests of races between processes or threads that open one file."""

from __future__ import annotations

import threading
from collections.abc import Callable


def start_together(work: Callable[[], object], threads: int) -> list[str]:
    """Run ``work`` in ``threads`` threads released by one barrier, and wait for them: the errors they raised."""
    barrier = threading.Barrier(threads)
    errors: list[str] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors
