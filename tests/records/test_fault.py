"""Crash safety: SIGKILL a writer mid-burst; every acknowledged notice and audit record survives and
the chain verifies — with one transaction per audit record, and with group commit (AuditWriter)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clauseguard.guards.records import RecordStore, iter_records, notice_queue, verify

ROOT = Path(__file__).resolve().parents[2]
KILL_AFTER = 60  # acknowledgement lines read before the kill


def _burst_then_kill(url: str, mode: str) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.records.burst_writer", url, mode], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        assert proc.stdout.readline().strip() == "READY"
        while len(lines) < KILL_AFTER:
            line = proc.stdout.readline()
            assert line, "writer exited early"
            lines.append(line.strip())
        proc.send_signal(signal.SIGKILL)
        lines.extend(ln.strip() for ln in proc.stdout.read().splitlines() if ln.strip())  # printed before death
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return lines


@pytest.mark.parametrize(("mode", "min_notices"), [("direct", KILL_AFTER // 2 - 1), ("group", 1)])
def test_sigkill_mid_burst_loses_nothing_acknowledged(store_url: str, mode: str, min_notices: int) -> None:
    RecordStore.open(store_url).close()  # migrate first, so the writer starts bursting at once
    lines = _burst_then_kill(store_url, mode)
    acked_notices = {ln.split()[1] for ln in lines if ln.startswith("N ")}
    acked_seqs = {int(ln.split()[1]) for ln in lines if ln.startswith("A ")}
    assert len(acked_notices) >= min_notices and acked_seqs
    with RecordStore.open(store_url) as store:
        stored_notices = {n.reference for n in notice_queue(store)}
        stored_seqs = {r["seq"] for r in iter_records(store)}
        result = verify(store)
    assert acked_notices <= stored_notices
    assert acked_seqs <= stored_seqs
    assert result.ok, result.reason
    assert result.checked == len(stored_seqs) >= len(acked_seqs)
