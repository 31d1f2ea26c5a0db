"""Fault test of the real service: SIGKILL ``clauseguard serve`` during a burst of notices and checks.

Every notice the server acknowledged (a 201 with a reference) must be in the database afterwards, and
the audit chain it left must verify. The server runs in its own process on 127.0.0.1 with a fresh
SQLite file, as an operator would run it.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from clauseguard.guards.records import RecordStore, notice_queue, verify

ROOT = Path(__file__).resolve().parents[2]
GUARDS = ROOT / "tests/guards/fixtures/guards.yaml"
KEYS = "k1:" + base64.b64encode(b"fault-test-key-32-bytes-long!!!!").decode()
ACKS_BEFORE_KILL = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(db: Path, port: int) -> subprocess.Popen[bytes]:
    code = "import sys; from clauseguard.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "serve", "--guards", str(GUARDS), "--db", f"sqlite:///{db}",
            "--host", "127.0.0.1", "--port", str(port)]
    # one client files the whole burst: its intake throttle is opened up (the default is 10 at once)
    env = {**os.environ, "CLAUSEGUARD_PSEUDONYM_KEYS": KEYS, "CLAUSEGUARD_INTAKE_BURST": "10000"}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


def _notice(i: int) -> dict[str, object]:
    return {"regime": "dsa", "explanation": f"illegal content #{i}", "urls": [f"https://example.org/item/{i}"],
            "notifier_name": "Fault Test", "notifier_email": "fault@example.org", "good_faith_statement": True}


def _send(base: str, i: int) -> str | None:
    """File one notice (and make one check); the reference if the notice was acknowledged."""
    try:
        with httpx.Client(base_url=base, timeout=10.0) as client:
            client.post("/v1/check/text", json={"text": f"hello {i}", "stage": "input"})
            response = client.post("/v1/notices", json=_notice(i))
    except httpx.TransportError:
        return None  # the server died first: nothing was acknowledged
    return response.json()["reference"] if response.status_code == 201 else None


def test_sigkill_during_a_burst_loses_no_acknowledged_notice(tmp_path: Path) -> None:
    db, port = tmp_path / "records.db", _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(db, port)
    acknowledged: list[str] = []
    try:
        _wait_ready(base, proc)
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(_send, base, i) for i in range(400)]
            for future in futures:
                reference = future.result()
                if reference:
                    acknowledged.append(reference)
                if len(acknowledged) >= ACKS_BEFORE_KILL and proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert ACKS_BEFORE_KILL <= len(acknowledged) < 400  # killed mid-burst, not after it
    with RecordStore.open(f"sqlite:///{db}") as store:
        stored = {n.reference for n in notice_queue(store)}
        result = verify(store)
    assert set(acknowledged) <= stored
    assert result.ok, result.reason
    assert result.checked > 0
