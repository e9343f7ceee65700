"""Throughput of one process vs `--workers 2`, on the file sink: `datagen run stress_test --rate max`.

Usage: python benchmarks/bench_workers.py [--events N] [--scenario stress_test] [--workers 2]

Both runs write the same --events total into a temporary folder; events/s is delivered events
over the process's wall time (start-up included), measured in this one invocation. Prints both
figures and their ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(scenario: str, events: int, workers: int, out: Path) -> float:
    """events/s of one `datagen run --sink file --rate max` with `workers` processes."""
    command = [sys.executable, "-m", "producer", "run", scenario, "--sink", "file", "--out", str(out)]
    command += ["--rate", "max", "--events", str(events), "--no-metrics", "--log-level", "WARNING"]
    command += ["--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    delivered = int(re.search(r"^\s+total\s+\d+\s+(\d+)", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert delivered == events, f"delivered {delivered} of {events}"
    return delivered / elapsed


def main() -> None:
    """Measure 1 process and N workers, print both and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        one = run(args.scenario, args.events, 1, Path(tmp) / "one")
        many = run(args.scenario, args.events, args.workers, Path(tmp) / "many")
    print(f"{args.scenario}, {args.events} events, file sink, --rate max")
    print(f"  1 process      : {one:,.0f} events/s")
    print(f"  --workers {args.workers:<4} : {many:,.0f} events/s")
    print(f"  ratio          : {many / one:.2f}x")


if __name__ == "__main__":
    main()
