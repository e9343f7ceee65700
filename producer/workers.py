"""`datagen run SCENARIO --workers N`: N local worker processes, each a shard, seen as one run.

The parent validates everything first (exit 2 before any worker starts), then starts N workers
(`python -m producer.workers ARGS`, each a plain run of shard k/K with a report file instead of a
summary and of its own /metrics), relays their output line by line with a `[worker j]` prefix,
forwards SIGINT/SIGTERM to all of them, serves one /metrics summing their reports, and prints one
summary with one exit code.

Exit code: the worst of the workers' codes, 4 > 3 > 2 > 130 > 0. A worker that dies without
finishing its run (killed by a signal, or any other code) counts as 4: whatever it produced after
its last report (at most half a second) is unaccounted for. The first worker to end with a non-zero
code ends the run: the others are stopped like by SIGTERM, and every worker's last report is counted.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TextIO

from producer.app import Run, RunSettings, make_reporter
from producer.errors import BrokerUnavailable, DatagenError, DeliveryError, UsageError
from producer.observability.merged import PoolMetricsServer, combine_reports
from producer.observability.progress import ProgressReporter, Reading, merge_readings
from producer.observability.summary import render_summary
from producer.observability.worker_report import read_report
from producer.scenario.oracle_checks import check_oracle_sharding
from producer.scheduling.shard import Shard

EXIT_RANK = {0: 0, 130: 1, 2: 2, 3: 3, 4: 4}  # which worker's exit code becomes the run's
KILL_AFTER = 15.0  # seconds a stopped worker gets before SIGKILL (a run promises to end within 10 s)
ERRORS: dict[int, type[DatagenError]] = {2: UsageError, 3: BrokerUnavailable, 4: DeliveryError}


def worker_shard(shard: Shard, workers: int, j: int) -> Shard:
    """The shard worker j of `workers` plays inside `shard` i/n: (i + j*n)/(n*workers).

    A virtual partition p with p % (n*W) == i + j*n has p % n == i, and every residue i (mod n)
    below n*W is i + j*n for exactly one j: the workers' partitions split the shard's exactly.
    """
    return Shard(shard.index + j * shard.count, shard.count * workers)


def split_events(total: int | None, workers: int) -> list[int | None]:
    """`--events` is the run's total: worker j gets total // W, the first total % W one more."""
    if total is None:
        return [None] * workers
    if total < workers:
        raise UsageError(f"--events {total}: fewer events than --workers {workers} (each worker needs at least one)")
    return [total // workers + (1 if j < total % workers else 0) for j in range(workers)]


def run_exit_code(codes: list[int]) -> int:
    """The run's exit code from the workers' (negative = killed by a signal): the worst one."""
    ranked = [code if code in EXIT_RANK else 4 for code in codes]
    return max(ranked, key=EXIT_RANK.__getitem__, default=0)


def describe_exit(code: int) -> str:
    """`exit code 3`, or `killed by SIGKILL` for a negative return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Worker:
    """One worker process and what the parent knows of it."""

    def __init__(self, j: int, shard: Shard, report: Path) -> None:
        self.j, self.shard, self.report_path = j, shard, report
        self.proc: subprocess.Popen[bytes] | None = None
        self.relays: list[threading.Thread] = []
        self.pending: int | None = None  # a stop signal held back until the worker can handle it

    @property
    def alive(self) -> bool:
        """Started and not yet ended."""
        return self.proc is not None and self.proc.poll() is None

    def report(self) -> dict[str, Any] | None:
        """Its last report, or None before the first."""
        return read_report(self.report_path)

    def stop(self, signum: int) -> None:
        """Send a stop signal once the worker handles it: its first report comes after its signal handlers.

        Before that, Python's default handlers would kill it mid-import as if it had crashed.
        """
        if self.report_path.exists():
            self.pending = None
            self.signal(signum)
        else:
            self.pending = signum

    def signal(self, signum: int) -> None:
        """Send `signum` if it still runs."""
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):  # ended since the check
                self.proc.send_signal(signum)


def _relay(source: IO[bytes], target: TextIO, prefix: str, lock: threading.Lock) -> None:
    """Copy a worker's output to ours line by line, so lines of different workers never interleave."""
    try:
        for raw in iter(source.readline, b""):
            line = raw.decode("utf-8", "replace")
            with lock:
                target.write(prefix + line if line.endswith("\n") else prefix + line + "\n")
                target.flush()
    except OSError:  # our own output is gone (e.g. `| head`): closing theirs ends the worker the same way
        pass
    finally:
        source.close()


class WorkerPool:
    """Starts, watches, stops and sums the workers of one `datagen run --workers N`."""

    def __init__(self, args: argparse.Namespace, settings: RunSettings, validated: Run) -> None:
        self.args, self.settings, self.validated = args, settings, validated
        self.out = validated.out
        self.count = args.workers
        self.tmp = Path(tempfile.mkdtemp(prefix="datagen-workers-"))
        self.workers = [
            Worker(j, worker_shard(settings.shard, self.count, j), self.tmp / f"worker-{j}.json")
            for j in range(self.count)
        ]
        self.stopping = threading.Event()  # a signal or a failed worker: stop all
        self.signalled = False
        self.stopped_at: float | None = None
        self.first_failure: str | None = None
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        """A line for the person running datagen."""
        with self._lock:
            print(text, file=self.out, flush=True)

    def worker_args(self, worker: Worker, events: int | None) -> argparse.Namespace:
        """The parsed flags of one worker: its shard, its share of --events, its folder, no metrics."""
        args = copy.copy(self.args)
        args.workers, args.shard, args.events = 1, worker.shard, events
        args.no_metrics, args.linger, args.report_file = True, 0.0, worker.report_path
        args.bootstrap_servers = self.settings.bootstrap_servers
        args.schema_registry_url = self.settings.schema_registry_url
        if self.settings.sink == "file":
            args.out = self.settings.out / f"worker-{worker.j}"  # workers never write the same file
        return args

    def start(self, worker: Worker, events: int | None) -> None:
        """Start one worker in its own session: a terminal's Ctrl+C reaches the parent only, which forwards it."""
        path = self.tmp / f"worker-{worker.j}.args"
        path.write_bytes(pickle.dumps(self.worker_args(worker, events)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "producer.workers", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        worker.proc = proc
        prefix = f"[worker {worker.j}] "
        data_on_stdout = self.settings.sink == "stdout"  # events: copied as they are
        assert proc.stdout is not None and proc.stderr is not None
        for source, target, pre in (
            (proc.stdout, sys.stdout, "" if data_on_stdout else prefix),
            (proc.stderr, sys.stderr, prefix),
        ):
            relay = threading.Thread(target=_relay, args=(source, target, pre, self._lock), daemon=True)
            relay.start()
            worker.relays.append(relay)

    def execute(self) -> int:
        """Run every worker to its end; print one summary; return (or raise for) one exit code."""
        previous = {}
        if threading.current_thread() is threading.main_thread():  # signal handlers can only live there
            previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            self._install_signals()
        server = self._start_metrics()
        began = time.monotonic()
        try:
            shards = " ".join(str(w.shard) for w in self.workers)
            layout = f"; files under {self.settings.out}/worker-<j>/" if self.settings.sink == "file" else ""
            self.say(f"workers: {self.count} processes, shards {shards}{layout}")
            for worker, events in zip(self.workers, split_events(self.settings.events, self.count), strict=True):
                if self.stopping.is_set():
                    break
                self.start(worker, events)
                assert worker.proc is not None
                self.say(f"worker {worker.j}: pid {worker.proc.pid} shard {worker.shard}")
            progress = self._start_progress(began)
            try:
                self._wait()
            finally:
                if progress is not None:
                    progress.stop()
            wall = time.monotonic() - began
            for worker in self.workers:
                for relay in worker.relays:
                    relay.join(5.0)  # all their output before the summary
            self.say(self._summary(wall))
            if server is not None and self.settings.linger and not self.signalled:
                self.say(f"run ended; serving metrics for {self.settings.linger:g}s more (Ctrl+C to exit)")
                self.stopping.clear()
                self.stopping.wait(self.settings.linger)
        finally:
            for worker in self.workers:
                worker.signal(signal.SIGKILL)  # only if still running, after an unexpected error here
            if server is not None:
                server.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._exit_code()

    def _start_progress(self, began: float) -> ProgressReporter | None:
        """The run's progress (live view or lines) from the workers' reports merged; none with --quiet."""
        if self.settings.quiet:
            return None
        deadline = None if self.settings.duration is None else began + self.settings.duration

        def read() -> Reading | None:
            reports = [w.report() for w in self.workers]
            return merge_readings(r["progress"] for r in reports if r is not None and "progress" in r)

        reporter = make_reporter(self.validated.loaded, self.settings, read, deadline)
        reporter.start()
        return reporter

    def _wait(self) -> None:
        """Until every worker ended; the first failure stops the others, a stopped one is killed after KILL_AFTER."""
        while any(w.alive for w in self.workers):
            for worker in self.workers:
                assert worker.proc is not None or self.stopping.is_set()
                code = worker.proc.poll() if worker.proc is not None else None
                if code not in (None, 0) and self.first_failure is None:
                    self.first_failure = f"worker {worker.j} (shard {worker.shard}) {describe_exit(code)}"
                    self.say(f"{self.first_failure}: stopping the other workers")
                    self._stop_all(signal.SIGTERM)
                if worker.pending is not None:
                    worker.stop(worker.pending)
            if self.stopped_at is not None and time.monotonic() - self.stopped_at > KILL_AFTER:
                for worker in self.workers:
                    worker.signal(signal.SIGKILL)
            time.sleep(0.05)

    def _stop_all(self, signum: int) -> None:
        """Forward a stop to every running worker."""
        self.stopping.set()
        self.stopped_at = self.stopped_at or time.monotonic()
        for worker in self.workers:
            worker.stop(signum)

    def _install_signals(self) -> None:
        def handle(signum: int, _frame: object) -> None:
            self.signalled = True
            self._stop_all(signum)  # a second signal is forwarded too: workers then stop waiting on flushes

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, handle)

    def _start_metrics(self) -> PoolMetricsServer | None:
        if self.settings.metrics_port is None:
            return None
        server = PoolMetricsServer(self._expositions, self._healthy, self._ready, port=self.settings.metrics_port)
        server.start()
        self.say(f"metrics: {server.banner()} (summed over {self.count} workers)")
        return server

    def _expositions(self) -> list[str]:
        reports = [w.report() for w in self.workers]
        return [r["exposition"] for r in reports if r is not None]

    def _healthy(self) -> bool:
        """Every worker alive and healthy, or finished cleanly."""
        if self.first_failure is not None:
            return False
        reports = [w.report() for w in self.workers]
        return all(r is None or r["healthy"] for r in reports)

    def _ready(self) -> bool:
        """Every worker connected and delivering."""
        reports = [w.report() for w in self.workers]
        return all(r is not None and r["ready"] for r in reports) and all(w.alive for w in self.workers)

    def _summary(self, wall: float) -> str:
        """One summary over all workers; the rate is total delivered over their producing window."""
        reports = [w.report() for w in self.workers]
        known = [r for r in reports if r is not None]
        finals = [r["final"] for r in known if r.get("final")]
        flushing = max((f["flushing"] for f in finals), default=0.0)
        outstanding = sum(f["outstanding"] for f in finals)
        ended = sorted({f["ended_by"] for f in finals})
        if len(finals) < len(self.workers):
            ended = ["worker_died"]
        stats = combine_reports(self.validated.loaded.scenario.name, known)
        text = render_summary(
            stats,
            producing_window(finals, wall, flushing, len(self.workers)),
            "+".join(ended) or "signal",
            outstanding,
            flushing,
        )
        lines = [text, f"  workers: {self.count} (shards {', '.join(str(w.shard) for w in self.workers)})"]
        for worker, report in zip(self.workers, reports, strict=True):
            if report is None or not report.get("final"):
                how = describe_exit(worker.proc.returncode) if worker.proc is not None else "never started"
                lines.append(f"  worker {worker.j} (shard {worker.shard}) {how}: counted up to its last report")
        return "\n".join(lines)

    def _exit_code(self) -> int:
        codes = [w.proc.returncode for w in self.workers if w.proc is not None]
        code = run_exit_code(codes)
        if code in ERRORS:
            why = self.first_failure or "a worker failed"
            if code == 4 and self.first_failure is None:
                why = "events failed delivery (see the workers' errors above)"
            raise ERRORS[code](f"--workers {self.count}: {why}")
        return code


def _start_embedded(settings: RunSettings, say: Callable[[str], None]) -> RunSettings:
    """The embedded broker started once, by the parent, rather than raced for by N workers."""
    from dataclasses import replace

    from producer.embedded import stack

    info = stack.status()
    if info is None:
        say("no broker configured: starting the embedded Kafka-compatible broker (Tansu) and schema registry")
        info = stack.ensure()
    say(f"embedded broker: {info.bootstrap_servers}  schema registry: {info.registry_url}")
    return replace(
        settings,
        bootstrap_servers=info.bootstrap_servers,
        schema_registry_url=settings.schema_registry_url or info.registry_url,
    )


def run_workers(args: argparse.Namespace, settings: RunSettings) -> int:
    """`datagen run --workers N` (N > 1): validate like a plain run, then run N worker processes."""
    validated = Run(settings)  # loads and checks the scenario and the flags; starts nothing
    settings.shard.check(validated.loaded.scenario.virtual_partitions, args.workers)
    check_oracle_sharding(validated.loaded.scenario, settings.shard.count * args.workers)
    split_events(settings.events, args.workers)
    if settings.sink == "file":
        try:
            settings.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {settings.out}: cannot write there ({exc.strerror})") from exc
    if settings.sink == "kafka" and settings.bootstrap_servers is None:
        settings = _start_embedded(settings, validated.say)
    return WorkerPool(args, settings, validated).execute()


def _worker_main(path: str) -> int:
    """A worker: the parent's parsed flags, adjusted for this worker, run as a plain `datagen run`."""
    from producer.cli import run_parsed

    args = pickle.loads(Path(path).read_bytes())  # written by our parent, in its private temp dir
    os.unlink(path)
    return run_parsed(args)


if __name__ == "__main__":
    raise SystemExit(_worker_main(sys.argv[1]))


def producing_window(finals: list[dict[str, Any]], wall: float, flushing: float, workers: int) -> float:
    """The workers' producing time: from the first one's clock start to the last one's end of producing.

    As for one process, it leaves out start-up (imports, connecting, schema registration, warm start),
    which each worker does at its own pace. When a worker has no final report (it died) the parent's
    wall time stands in, flush excluded.
    """
    if len(finals) < workers or not all("started_at" in final for final in finals):
        return max(0.0, wall - flushing)
    first = min(final["started_at"] for final in finals)
    last = max(final["started_at"] + final["producing"] for final in finals)
    return max(0.0, last - first)
