"""A worker's report to its parent (`datagen run --workers N`): a JSON file rewritten twice a second.

The file holds the worker's metric exposition, readiness, health and per-topic totals; the last
write, at the end of the run, also holds how the run ended. The parent sums these files for its
one /metrics endpoint and its one summary, and a killed worker still leaves its last report.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from producer.observability.metrics import STALE_AFTER, StatsCollector
from producer.observability.progress import read_stats, reading_dict
from producer.observability.stats import RunStats

REPORT_INTERVAL = 0.5  # seconds between reports; a killed worker's counts are this much behind at most


def snapshot(stats: RunStats, final: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report of `stats` now; `final` (ended_by, producing, flushing, outstanding) once the run ended."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    exposition = generate_latest(registry).decode()
    with stats.lock:
        topics = {name: asdict(totals) for name, totals in stats.topics.items()}
        generated = sum(stats.produced_by_type.values())
        delayed = None if stats.delayed_labels is None else dict(stats.delayed_labels)
        derived = sorted(stats.derived_topics)
    healthy = not stats.ready or time.monotonic() - stats.last_heartbeat < STALE_AFTER
    return {
        "pid": os.getpid(),
        "exposition": exposition,
        "ready": stats.is_ready(),
        "healthy": final is not None or healthy,
        "topics": topics,
        "derived_topics": derived,
        "generated": generated,
        "first_error": stats.first_error,
        "delayed_labels": delayed,
        "progress": reading_dict(read_stats(stats)),  # the parent's live view merges these
        "final": final,
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Replace the report file atomically, so the parent never reads half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report))
    os.replace(tmp, path)


def read_report(path: Path) -> dict[str, Any] | None:
    """The last report written to `path`, or None before the first one."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class ReportWriter:
    """Writes the worker's report every REPORT_INTERVAL seconds from a daemon thread.

    It also watches the parent: a worker whose parent died (it is re-parented) stops itself with
    SIGTERM, the same clean stop as a signal, rather than running on unwatched.
    """

    def __init__(self, stats: RunStats, path: Path, interval: float = REPORT_INTERVAL) -> None:
        self.stats, self.path, self.interval = stats, path, interval
        self._parent = os.getppid()
        self._done = threading.Event()
        self._lock = threading.Lock()  # the final write must not be overwritten by a late periodic one
        self._thread = threading.Thread(target=self._loop, name="worker-report", daemon=True)

    def start(self) -> None:
        """Write a first report now and go on in the background."""
        write_report(self.path, snapshot(self.stats))
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            with self._lock:
                if self._done.is_set():
                    return
                write_report(self.path, snapshot(self.stats))
            if os.getppid() != self._parent:
                os.kill(os.getpid(), signal.SIGTERM)

    def finish(self, final: dict[str, Any]) -> None:
        """Write the final report (how the run ended) and stop the periodic ones."""
        with self._lock:
            self._done.set()
            write_report(self.path, snapshot(self.stats, final))

    def stop(self) -> None:
        """Stop the periodic reports (the last one written stays)."""
        self._done.set()
