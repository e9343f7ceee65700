"""What live progress costs: `datagen run --rate max` to the file sink with the live view on and off.

Usage: python benchmarks/bench_progress.py [--events N] [--scenario drift_ramp] [--repeats R] [--lines]

Every run has stderr on a pseudo-terminal, so the live view (rich) draws as it would for a person;
the "off" run adds --quiet. Runs are paired (view, quiet) with the order alternating, and the
figures are the medians of the per-pair ratios of the summary's rate (events/s over producing
time) and of the CPU time per event of the whole process (user + system, every thread, start-up
included; steadier than the rate on a shared machine, where other load moves wall-clock rates by
tens of percent). With --lines a third arm runs with stderr piped and --progress-interval 1s: the
periodic lines, ten times more often than by default. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RATE = re.compile(r"achieved rate: ([\d,]+) events/s")


def _drain(master: int, proc: subprocess.Popen[bytes]) -> None:
    """Read the terminal until the run ends, as a terminal emulator would (a full pty would block it)."""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:  # EIO: the run closed the terminal
                return
        elif proc.poll() is not None:
            return


def _reap(proc: subprocess.Popen[bytes]) -> float:
    """Wait for the run; the CPU seconds (user + system) it used, all threads."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def run_once(scenario: str, events: int, out: Path, mode: str) -> tuple[float, float]:
    """events/s and CPU µs per event of one run; mode: view (stderr a terminal), quiet (a terminal,
    --quiet), lines (stderr piped, a line every 1 s)."""
    command = [sys.executable, "-m", "producer", "run", scenario, "--sink", "file", "--out", str(out)]
    command += ["--rate", "max", "--events", str(events), "--no-metrics", "--format", "jsonl"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="120", LINES="40")
    if mode == "quiet":
        command.append("--quiet")
    if mode == "lines":
        command += ["--progress-interval", "1s"]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        text = proc.stdout.read().decode()
    else:
        master, slave = os.openpty()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        try:
            _drain(master, proc)
        finally:
            os.close(master)
        assert proc.stdout is not None
        text = proc.stdout.read().decode()
    cpu = _reap(proc)
    if proc.returncode != 0:
        raise SystemExit(f"run failed: {text}")
    found = RATE.search(text)
    assert found, text
    return float(found.group(1).replace(",", "")), cpu / events * 1e6


def progress_thread_share(scenario: str, events: int, out: Path, live: bool) -> tuple[float, float]:
    """In this process: CPU seconds of the progress thread (its reads and redraws) and of the whole run.

    The direct measure of the cost: at --rate max the main thread is CPU-bound and the progress
    thread takes the GIL from it, so its share of the CPU bounds the throughput it costs, and
    other load on the machine hardly moves a ratio of CPU times.
    """
    from producer.app import Run, RunSettings
    from producer.observability import progress

    spent = [0.0]
    step = progress.ProgressReporter._step

    def timed(self: progress.ProgressReporter) -> None:
        begin = time.thread_time()
        step(self)
        spent[0] += time.thread_time() - begin

    progress.ProgressReporter._step = timed  # type: ignore[method-assign]
    if live:  # a terminal, read as an emulator would until the run closes it
        master, slave = os.openpty()
        terminal = os.fdopen(slave, "w")
        threading.Thread(target=_drain_fd, args=(master,), daemon=True).start()
    else:
        terminal = open(os.devnull, "w")  # noqa: SIM115 - closed below
    saved, sys.stderr = sys.stderr, terminal
    settings = RunSettings(scenario, events=events, rate="max", sink="file", out=out, format="jsonl")
    settings = replace(settings, metrics_port=None, progress_interval=1.0)
    try:
        begin = time.process_time()
        Run(settings, out=open(os.devnull, "w")).execute()  # noqa: SIM115 - the run's summary, dropped
        total = time.process_time() - begin
    finally:
        sys.stderr = saved
        progress.ProgressReporter._step = step  # type: ignore[method-assign]
        terminal.close()
    return spent[0], total


def _drain_fd(master: int) -> None:
    with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
        while os.read(master, 65536):
            pass
    os.close(master)


def main() -> None:
    """Paired runs, medians, ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--scenario", default="drift_ramp")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lines", action="store_true", help="also the periodic lines off a terminal, every 1 s")
    parser.add_argument("--thread-cpu", action="store_true", help="only the progress thread's share of the CPU")
    args = parser.parse_args()
    if args.thread_cpu:
        with tempfile.TemporaryDirectory(prefix="datagen-bench-progress-") as tmp:
            for live in (True, False):
                thread, total = progress_thread_share(args.scenario, args.events, Path(tmp) / str(live), live)
                what = "live view (a pty)" if live else "lines every 1 s"
                print(f"{what}: progress thread {thread:.3f} CPU s of {total:.1f} ({thread / total:.3%})")
        return
    modes = ["view", "quiet"] + (["lines"] if args.lines else [])
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    cpus: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="datagen-bench-progress-") as tmp:
        for repeat in range(args.repeats):
            order = modes if repeat % 2 == 0 else modes[::-1]  # alternate: drift of the machine hits both
            for mode in order:
                rate, cpu = run_once(args.scenario, args.events, Path(tmp) / f"{mode}-{repeat}", mode)
                rates[mode].append(rate)
                cpus[mode].append(cpu)
            shown = "  ".join(f"{m} {rates[m][-1]:,.0f}/s {cpus[m][-1]:.2f} cpu-µs/event" for m in modes)
            print(f"pair {repeat + 1}: {shown}", flush=True)
    print(f"scenario={args.scenario} events={args.events} repeats={args.repeats} (file sink, --rate max, jsonl)")
    for mode in modes:
        rate, cpu = statistics.median(rates[mode]), statistics.median(cpus[mode])
        print(f"  {mode:<6} median {rate:,.0f} events/s, {cpu:.2f} CPU µs per event (whole process)")
    for mode in modes[:1] + modes[2:]:
        ratios = [a / b for a, b in zip(rates[mode], rates["quiet"], strict=True)]
        extra = [a / b for a, b in zip(cpus[mode], cpus["quiet"], strict=True)]
        print(f"  {mode}/quiet events/s: median of paired ratios {statistics.median(ratios):.3f} ({_fmt(ratios)})")
        print(f"  {mode}/quiet CPU per event: median of paired ratios {statistics.median(extra):.3f} ({_fmt(extra)})")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    main()
