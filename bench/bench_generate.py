"""Benchmark document generation and CLI start-up against the project's aims.

For each example profile, a fresh Python process measures (in ms):

- ``cold``: the first ``build.render_outputs(profile)`` call (imports of the exporters, reading the
  clause library, rendering every format) — what one ``clauseguard generate`` pays;
- ``warm``: the median of N further calls, each of which reads the clause library again;
- ``warm, library loaded``: the median with the library loaded once and passed in (what a server
  that keeps the library in memory pays), when ``render_outputs`` accepts ``library=``.

Then ``clauseguard --help`` is started N times as a subprocess and its median wall time is taken,
next to a bare ``python -c pass`` for reference. Aims: warm generation < 300 ms, ``--help`` < 300 ms.

    .venv/bin/python bench/bench_generate.py [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AIM_GENERATE_MS = 300.0
AIM_HELP_MS = 300.0


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def worker(profile_path: str, runs: int) -> dict[str, float | int | None]:
    """Time generation for one profile inside this (fresh) process."""
    from clauseguard.generator.build import render_outputs
    from clauseguard.generator.profile import load_profile

    profile = load_profile(profile_path)
    start = time.perf_counter()
    files = render_outputs(profile)
    cold = _ms(start)
    warm = []
    for _ in range(runs):
        start = time.perf_counter()
        render_outputs(profile)
        warm.append(_ms(start))
    preloaded = None
    if "library" in inspect.signature(render_outputs).parameters:
        from clauseguard.generator.library import load_library

        library = load_library(None)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            render_outputs(profile, library=library)
            times.append(_ms(start))
        preloaded = statistics.median(times)
    return {"cold_ms": cold, "warm_ms": statistics.median(warm), "preloaded_ms": preloaded, "files": len(files)}


def _run_worker(profile: Path, runs: int) -> dict[str, float | int | None]:
    command = [sys.executable, __file__, "--worker", str(profile), "--runs", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark of {profile} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _wall_ms(command: list[str], runs: int) -> float:
    """Median wall time of ``command`` started ``runs`` times (after one unmeasured warm-up run)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(_ms(start))
    return statistics.median(times)


def _cli_command() -> list[str]:
    script = Path(sys.executable).with_name("clauseguard")
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("clauseguard")
    return [found, "--help"] if found else [sys.executable, "-m", "clauseguard", "--help"]


def measure(runs: int) -> dict[str, object]:
    profiles = sorted(ROOT.glob("examples/*/profile.yaml"))
    generation = {p.parent.name: _run_worker(p, runs) for p in profiles}
    return {
        "runs": runs,
        "python": sys.version.split()[0],
        "generation": generation,
        "help_ms": _wall_ms(_cli_command(), runs),
        "python_startup_ms": _wall_ms([sys.executable, "-c", "pass"], runs),
    }


def _verdict(value: float | None, aim: float) -> str:
    if value is None:
        return "n/a"
    return "ok" if value < aim else "MISSED"


def _table(results: dict[str, object]) -> str:
    fmt = "{:<18} {:>9} {:>9} {:>16} {:>6}  {}"
    lines = [
        f"Generation per example profile, ms (median of {results['runs']} warm runs; aim: warm < "
        f"{AIM_GENERATE_MS:.0f} ms)",
        fmt.format("example", "cold", "warm", "warm, lib loaded", "files", "warm aim"),
    ]
    for name, row in results["generation"].items():  # type: ignore[attr-defined]
        pre = row["preloaded_ms"]
        lines.append(
            fmt.format(
                name, f"{row['cold_ms']:.0f}", f"{row['warm_ms']:.0f}", "n/a" if pre is None else f"{pre:.0f}",
                row["files"], _verdict(row["warm_ms"], AIM_GENERATE_MS),
            )
        )
    help_ms = results["help_ms"]
    lines += [
        "",
        f"clauseguard --help wall time: {help_ms:.0f} ms (median; aim < {AIM_HELP_MS:.0f} ms: "
        f"{_verdict(help_ms, AIM_HELP_MS)}); bare `python -c pass`: {results['python_startup_ms']:.0f} ms",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="warm runs per measurement (default 7)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--worker", metavar="PROFILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.runs)))
        return 0
    results = measure(args.runs)
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
