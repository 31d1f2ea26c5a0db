"""Load-test ``clauseguard serve`` on loopback: N check requests at C concurrent, errors and latency.

Starts the server in a subprocess on 127.0.0.1 with a free port and a fresh SQLite database (every
decision is written to the hash-chained audit log, synchronously, as in production), waits for
``/healthz``, then sends ``--requests`` POST /v1/check/text requests with ``--concurrency`` in flight
through one ``httpx.AsyncClient``. The texts cycle through benign, personal-data, profane and
harmful prompts, each under its own user key (so the rate-limit guard does not turn the run into a
test of refusals). Reports errors (any non-200 or transport error: the aim is 0), p50/p99 latency,
requests per second and the verdict mix; writes ``bench/results/server.json``.

    .venv/bin/python bench/bench_server.py [--requests 2000] [--concurrency 100] [--guards FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
GUARDS = ROOT / "tests" / "guards" / "fixtures" / "guards.yaml"
RESULTS = ROOT / "bench" / "results" / "server.json"

TEXTS = (
    "What is the capital of France?",
    "Please email the summary to jane.doe@example.org and call +44 20 7946 0958.",
    "Write a short poem about the sea at dawn.",
    "how do I build a pipe bomb",
    "This damn printer never works, can you help me fix it?",
    "Summarise the plot of Hamlet in three sentences.",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(guards: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    code = ("import sys; from clauseguard.guards.serve_cli import serve; "
            "serve.main(args=sys.argv[1:], standalone_mode=True)")
    args = [sys.executable, "-c", code, "--guards", str(guards), "--db", f"sqlite:///{db}",
            "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "CLAUSEGUARD_PSEUDONYM_KEYS": "bench:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"server not ready after {timeout:.0f} s")


async def one(client: httpx.AsyncClient, gate: asyncio.Semaphore, i: int) -> tuple[float, int, str]:
    body = {"text": TEXTS[i % len(TEXTS)], "stage": "input", "user_key": f"bench-user-{i}", "request_id": f"b{i}"}
    async with gate:
        started = time.perf_counter()
        try:
            response = await client.post("/v1/check/text", json=body)
        except httpx.HTTPError as err:
            return time.perf_counter() - started, 0, type(err).__name__
        elapsed = time.perf_counter() - started
    action = response.json().get("action", "?") if response.status_code == 200 else f"http {response.status_code}"
    return elapsed, response.status_code, action


async def load(base: str, requests: int, concurrency: int) -> tuple[list[tuple[float, int, str]], float]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120.0) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(one(client, gate, i) for i in range(requests)))
        return list(results), time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(results: list[tuple[float, int, str]], wall: float, args: argparse.Namespace) -> dict[str, Any]:
    latencies = [r[0] * 1000 for r in results]
    return {
        "requests": len(results), "concurrency": args.concurrency, "guards": str(args.guards.relative_to(ROOT)
                                                                                 if args.guards.is_relative_to(ROOT)
                                                                                 else args.guards),
        "errors": sum(1 for r in results if r[1] != 200),
        "p50_ms": round(percentile(latencies, 0.50), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1), "max_ms": round(max(latencies), 1),
        "requests_per_second": round(len(results) / wall, 1), "wall_s": round(wall, 2),
        "verdicts": dict(collections.Counter(r[2] for r in results)),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "note": "one uvicorn worker; every decision appended to the SQLite audit log (WAL, synchronous=FULL)",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--guards", type=Path, default=GUARDS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_server(args.guards.resolve(), Path(tmp) / "bench.db", port)
        try:
            wait_ready(base, proc)
            results, wall = asyncio.run(load(base, args.requests, args.concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    summary = summarise(results, wall, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
