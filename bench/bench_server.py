"""Load-test ``clauseguard serve`` on loopback: N check requests at C concurrent, errors and latency.

Starts the server in a subprocess on 127.0.0.1 with a free port and a fresh SQLite database (every
decision goes to the hash-chained audit log, group-committed; ``--wait-for-commit`` makes each answer
wait for its record's commit), waits for ``/healthz``, then sends ``--requests`` POST /v1/check/text
requests over ``--concurrency`` keep-alive connections, each sending its next request when the last
one is answered (a closed loop, as wrk does). The texts cycle through benign, personal-data, profane
and harmful prompts, each under its own user key (so the rate-limit guard does not turn the run into
a test of refusals). After a graceful stop (SIGTERM: the server drains its audit queue) the audit
chain is verified and its records counted. Reports errors (any non-200 or transport error: the aim
is 0), p50/p99 latency, requests per second, the verdict mix and the CPU seconds of server and client;
writes ``bench/results/server.json``.

The default client speaks minimal HTTP/1.1 over asyncio streams: ``httpx.AsyncClient`` spent about
7 ms of CPU per request in its connection pool at 100 connections, so on 2 cores it, not the server,
set the pace (``--client httpx`` measures with it).

    .venv/bin/python bench/bench_server.py [--requests 2000] [--concurrency 100] [--guards FILE]
                                           [--client raw|httpx] [--wait-for-commit]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import platform
import resource
import signal
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
KEYS = "bench:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="

TEXTS = (
    "What is the capital of France?",
    "Please email the summary to jane.doe@example.org and call +44 20 7946 0958.",
    "Write a short poem about the sea at dawn.",
    "how do I build a pipe bomb",
    "This damn printer never works, can you help me fix it?",
    "Summarise the plot of Hamlet in three sentences.",
)

Result = tuple[float, int, str]  # seconds, HTTP status (0: transport error), action or error


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(guards: Path, db: Path, port: int, *, wait_for_commit: bool = False) -> subprocess.Popen[bytes]:
    code = ("import sys; from clauseguard.guards.serve_cli import serve; "
            "serve.main(args=sys.argv[1:], standalone_mode=True)")
    args = [sys.executable, "-c", code, "--guards", str(guards), "--db", f"sqlite:///{db}",
            "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "CLAUSEGUARD_PSEUDONYM_KEYS": KEYS,
           "CLAUSEGUARD_AUDIT_WAIT_FOR_COMMIT": "1" if wait_for_commit else "0"}
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


def request_body(i: int) -> dict[str, Any]:
    return {"text": TEXTS[i % len(TEXTS)], "stage": "input", "user_key": f"bench-user-{i}", "request_id": f"b{i}"}


def _action(status: int, payload: bytes) -> str:
    return str(json.loads(payload).get("action", "?")) if status == 200 else f"http {status}"


# -- raw HTTP/1.1 client: one keep-alive connection per worker, closed loop --------------------------

async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes,
                    body: bytes) -> tuple[int, bytes]:
    writer.write(head + body)
    lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(v) for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.lower() == "content-length")
    return status, await reader.readexactly(length)


async def _raw_worker(port: int, todo: collections.deque[int], out: list[Result]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while todo:
            i = todo.popleft()
            body = json.dumps(request_body(i)).encode()
            head = (f"POST /v1/check/text HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            started = time.perf_counter()
            try:
                status, payload = await _exchange(reader, writer, head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as err:
                out.append((time.perf_counter() - started, 0, type(err).__name__))
                return
            out.append((time.perf_counter() - started, status, _action(status, payload)))
    finally:
        writer.close()


async def load_raw(port: int, requests: int, concurrency: int) -> tuple[list[Result], float]:
    todo, out = collections.deque(range(requests)), []
    started = time.perf_counter()
    await asyncio.gather(*(_raw_worker(port, todo, out) for _ in range(concurrency)))
    out.extend((0.0, 0, "not sent") for _ in todo)  # workers that died leave their share unsent
    return out, time.perf_counter() - started


# -- httpx client (the earlier measurements) ----------------------------------------------------------

async def _one(client: httpx.AsyncClient, gate: asyncio.Semaphore, i: int) -> Result:
    async with gate:
        started = time.perf_counter()
        try:
            response = await client.post("/v1/check/text", json=request_body(i))
        except httpx.HTTPError as err:
            return time.perf_counter() - started, 0, type(err).__name__
        elapsed = time.perf_counter() - started
    return elapsed, response.status_code, _action(response.status_code, response.content)


async def load_httpx(port: int, requests: int, concurrency: int) -> tuple[list[Result], float]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=120.0) as client:
        started = time.perf_counter()
        results = await asyncio.gather(*(_one(client, gate, i) for i in range(requests)))
        return list(results), time.perf_counter() - started


# -- measurement ------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def audit_after_stop(db: Path) -> dict[str, Any]:
    """Verify the audit chain the server left behind (after its graceful stop drained the queue)."""
    from clauseguard.guards.records import RecordStore, verify

    with RecordStore.open(f"sqlite:///{db}") as store:
        result = verify(store)
    return {"chain_ok": result.ok, "records": result.checked, "reason": result.reason}


def summarise(results: list[Result], wall: float, args: argparse.Namespace, cpu: dict[str, float | None],
              audit: dict[str, Any]) -> dict[str, Any]:
    latencies = [r[0] * 1000 for r in results]
    guards = args.guards.relative_to(ROOT) if args.guards.is_relative_to(ROOT) else args.guards
    mode = "answers wait for the commit" if args.wait_for_commit else "answers before the commit (within ~10 ms)"
    return {
        "requests": len(results), "concurrency": args.concurrency, "guards": str(guards), "client": args.client,
        "audit_wait_for_commit": args.wait_for_commit,
        "errors": sum(1 for r in results if r[1] != 200),
        "p50_ms": round(percentile(latencies, 0.50), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1), "max_ms": round(max(latencies), 1),
        "requests_per_second": round(len(results) / wall, 1), "wall_s": round(wall, 2),
        "verdicts": dict(collections.Counter(r[2] for r in results)),
        "cpu_seconds": {k: None if v is None else round(v, 2) for k, v in cpu.items()},
        "audit": audit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_1m_before": args.load_before},
        "note": "one uvicorn worker; every decision in the SQLite audit log (WAL, synchronous=FULL), "
                f"group-committed by AuditWriter; {mode}",
    }


def run(args: argparse.Namespace, db: Path) -> tuple[list[Result], float, dict[str, float | None]]:
    port = free_port()
    proc = start_server(args.guards.resolve(), db, port, wait_for_commit=args.wait_for_commit)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        server_cpu, client_cpu = process_cpu_seconds(proc.pid), client_cpu_seconds()
        loader = load_raw if args.client == "raw" else load_httpx
        results, wall = asyncio.run(loader(port, args.requests, args.concurrency))
        server_end = process_cpu_seconds(proc.pid)
        cpu = {"server": None if server_cpu is None or server_end is None else server_end - server_cpu,
               "client": client_cpu_seconds() - client_cpu}
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: uvicorn runs the lifespan, the audit queue drains
        proc.wait(timeout=60)
    return results, wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--guards", type=Path, default=GUARDS)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--wait-for-commit", action="store_true", help="answers wait for their audit commit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews the numbers
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        results, wall, cpu = run(args, db)
        audit = audit_after_stop(db)
    summary = summarise(results, wall, args, cpu, audit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, sort_keys=True))
    ok = summary["errors"] == 0 and audit["chain_ok"] and audit["records"] == len(results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
