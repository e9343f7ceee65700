"""Memory over a long run: `datagen run` for a wall duration, its resident set sampled once a minute.

Usage: python benchmarks/soak_memory.py [--scenario stress_test] [--minutes 60] [--rate 3000] [--every 60]

Plays the scenario to the stdout sink (JSON lines into /dev/null, so no disk fills up) at a fixed
rate, reads the process's RSS from /proc every `--every` seconds, and prints each sample, then the
growth from the first sample after warm-up (minute 5) to the last, and the least-squares slope over
that span in MiB per hour. Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float | None:
    """The resident set of `pid` in MiB (None once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def main() -> None:
    """Run, sample, summarise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=3000)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    args = parser.parse_args()
    seconds = args.minutes * 60
    command = [sys.executable, "-m", "producer", "run", args.scenario, "--sink", "stdout", "--format", "jsonl"]
    command += ["--rate", str(args.rate), "--duration", f"{seconds:.0f}s", "--no-metrics", "--log-level", "WARNING"]
    samples: list[tuple[float, float]] = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL) as process:
        started = time.monotonic()
        while process.poll() is None:
            rss = rss_mib(process.pid)
            if rss is not None:
                samples.append((time.monotonic() - started, rss))
                print(f"{samples[-1][0] / 60:6.1f} min  {rss:7.1f} MiB", flush=True)
            time.sleep(min(args.every, max(0.1, seconds + 30 - (time.monotonic() - started))))
    settled = [(t, m) for t, m in samples if t >= min(300.0, seconds / 4)]
    if len(settled) < 2:
        print("too few samples after warm-up")
        return
    t, m = np.array(settled).T
    slope = np.polyfit(t / 3600, m, 1)[0]
    print(f"{args.scenario} at {args.rate} events/s for {args.minutes:g} min, exit {process.returncode}")
    print(f"RSS after warm-up {m[0]:.1f} MiB, at the end {m[-1]:.1f} MiB, max {m.max():.1f} MiB")
    print(f"growth {m[-1] - m[0]:+.1f} MiB; least-squares slope {slope:+.2f} MiB/hour")


if __name__ == "__main__":
    main()
