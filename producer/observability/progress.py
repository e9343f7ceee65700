"""Progress while a run plays: readings of its counters on a timer, as a live view or periodic lines.

Nothing here runs per event or per tick: a daemon thread reads RunStats (or, under `--workers`,
the workers' reports) a few times a second, and the scheduler's tick only writes the few scalars
it already computed (phase, its offset, scenario time).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from producer.observability.stats import RunStats

LogFormat = Literal["text", "json"]
LINE_INTERVAL = 10.0  # seconds between periodic lines off a terminal (--progress-interval)
POLL = 0.5  # seconds between readings: the live view's refresh, and how soon a phase change is noticed
LIVE_WINDOW = 4  # readings the live view's per-topic rates span (2 s)


@dataclass(frozen=True)
class Reading:
    """One look at a run's counters."""

    at: float  # monotonic seconds
    topics: dict[str, tuple[int, int, int]]  # topic -> (produced, delivered, failed) records
    generated: int  # domain events generated (what --events counts)
    target_rate: float  # events/s, 0 = max
    achieved_rate: float
    queue_depth: int
    phase: str
    phase_index: int
    phase_t: float  # scenario seconds into the phase
    phase_seconds: float
    tau: float  # scenario seconds since the start
    drift: dict[str, float] = field(default_factory=dict)  # domain -> p(t)

    @property
    def failed(self) -> int:
        """Records that failed delivery, over all topics."""
        return sum(failed for _, _, failed in self.topics.values())


def read_stats(stats: RunStats) -> Reading:
    """A Reading of one process's RunStats (the lock held only to copy)."""
    with stats.lock:
        topics = {name: (t.produced, t.delivered, t.failed) for name, t in stats.topics.items()}
        generated = sum(stats.produced_by_type.values())
        drift = dict(stats.drift_progress)
    return Reading(
        time.monotonic(),
        topics,
        generated,
        stats.target_rate,
        stats.achieved_rate,
        stats.queue_depth,
        stats.phase,
        stats.phase_index,
        stats.phase_t,
        stats.phase_seconds,
        stats.tau,
        drift,
    )


def reading_dict(reading: Reading) -> dict[str, Any]:
    """A Reading as JSON-ready data (a `--workers` worker's report carries it)."""
    return asdict(reading)


def merge_readings(readings: Iterable[dict[str, Any]]) -> Reading | None:
    """The workers' readings as one: counts, rates and queues summed; phase of the one furthest on; drift max."""
    items = list(readings)
    if not items:
        return None
    topics: dict[str, tuple[int, int, int]] = {}
    drift: dict[str, float] = {}
    for item in items:
        for name, counts in item["topics"].items():
            old = topics.get(name, (0, 0, 0))
            topics[name] = (old[0] + counts[0], old[1] + counts[1], old[2] + counts[2])
        for domain, p in item["drift"].items():
            drift[domain] = max(drift.get(domain, 0.0), p)
    ahead = max(items, key=lambda item: item["tau"])
    return Reading(
        time.monotonic(),  # each worker read its own clock; the parent's stands for all
        topics,
        sum(item["generated"] for item in items),
        sum(item["target_rate"] for item in items),
        sum(item["achieved_rate"] for item in items),
        sum(item["queue_depth"] for item in items),
        ahead["phase"],
        ahead["phase_index"],
        ahead["phase_t"],
        ahead["phase_seconds"],
        ahead["tau"],
        drift,
    )


@dataclass(frozen=True)
class Horizon:
    """What ends the run and how the scenario is laid out: fixed for the whole run."""

    phases: tuple[str, ...]
    scenario_seconds: float  # inf when the scenario repeats forever
    events: int | None = None  # --events
    deadline: float | None = None  # monotonic instant --duration is reached


@dataclass
class Estimate:
    """Derived figures of the latest reading against the one before and the first one."""

    elapsed: float
    topic_rates: dict[str, float]  # delivered records/s per topic since the previous reading
    phase_left: float | None  # wall seconds
    ends_in: float | None  # wall seconds until the first limit
    ends_by: str  # duration, events, scenario-end, or "" when nothing ends the run


def _speed(first: Reading, now: Reading) -> float:
    """Scenario seconds per wall second: 1 when paced, more at --rate max; measured once a second has passed."""
    if now.at - first.at >= 1.0 and now.tau > first.tau:
        return (now.tau - first.tau) / (now.at - first.at)
    return 1.0


def estimate(
    horizon: Horizon, first: Reading, previous: Reading, now: Reading, started: float | None = None
) -> Estimate:
    """Rates per topic, time left in the phase, and which limit ends the run when (elapsed from `started`)."""
    span = now.at - previous.at
    rates = {
        name: (counts[1] - previous.topics.get(name, (0, 0, 0))[1]) / span if span > 0 else 0.0
        for name, counts in now.topics.items()
    }
    speed = _speed(first, now)
    candidates: list[tuple[float, str]] = []
    if horizon.deadline is not None:
        candidates.append((max(0.0, horizon.deadline - now.at), "duration"))
    if horizon.events is not None and now.achieved_rate > 0:
        candidates.append((max(0, horizon.events - now.generated) / now.achieved_rate, "events"))
    if horizon.scenario_seconds != float("inf"):
        candidates.append((max(0.0, horizon.scenario_seconds - now.tau) / speed, "scenario-end"))
    ends_in, ends_by = min(candidates) if candidates else (None, "")
    phase_left = max(0.0, now.phase_seconds - now.phase_t) / speed if now.phase else None
    elapsed = now.at - (first.at if started is None else started)
    return Estimate(elapsed, rates, phase_left, ends_in, ends_by)


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _kv(fields: dict[str, Any]) -> str:
    """key=value pairs (logfmt): strings with spaces or quotes are quoted."""
    parts = []
    for key, value in fields.items():
        text = f"{value:.12g}" if isinstance(value, float) else str(value)  # 20000.0 -> 20000, never 2e+04
        if not text or any(c in text for c in ' "='):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _render(fields: dict[str, Any], log_format: LogFormat) -> str:
    return json.dumps(fields) if log_format == "json" else _kv(fields)


def progress_line(horizon: Horizon, reading: Reading, est: Estimate, log_format: LogFormat) -> str:
    """The periodic line off a terminal: rates, totals, phase, drift, queue, failures, the limit ahead."""
    fields: dict[str, Any] = {
        "ts": _timestamp(),
        "event": "progress",
        "elapsed_s": round(est.elapsed, 1),
        "phase": reading.phase,
        "phase_index": f"{reading.phase_index + 1}/{len(horizon.phases)}",
        "phase_left_s": None if est.phase_left is None else round(est.phase_left, 1),
        "target_rate": round(reading.target_rate, 1),  # 0 = max, as the metric; "max" in key=value
        "achieved_rate": round(reading.achieved_rate, 1),
        "generated": reading.generated,
        "delivered": sum(counts[1] for counts in reading.topics.values()),
        "failed": reading.failed,
        "queue_depth": reading.queue_depth,
        "ends_in_s": None if est.ends_in is None else round(est.ends_in, 1),
        "ends_by": est.ends_by or "none",
    }
    topics = {
        name: {"rate": round(est.topic_rates.get(name, 0.0), 1), "delivered": counts[1], "failed": counts[2]}
        for name, counts in sorted(reading.topics.items())
    }
    drift = {domain: round(p, 3) for domain, p in sorted(reading.drift.items())}
    if log_format == "json":
        return json.dumps(fields | {"drift": drift, "topics": topics})
    flat = {f"drift.{domain}": p for domain, p in drift.items()}
    for name, values in topics.items():
        flat |= {f"topic.{name}.{key}": value for key, value in values.items()}
    fields["target_rate"] = fields["target_rate"] or "max"
    return _kv({k: ("" if v is None else v) for k, v in fields.items()} | flat)


def phase_line(horizon: Horizon, reading: Reading, previous: str, elapsed: float, log_format: LogFormat) -> str:
    """The line printed when the run enters a phase."""
    fields = {
        "ts": _timestamp(),
        "event": "phase",
        "phase": reading.phase,
        "phase_index": f"{reading.phase_index + 1}/{len(horizon.phases)}",
        "previous": previous or "none",
        "elapsed_s": round(elapsed, 1),
        "phase_seconds": round(reading.phase_seconds, 1),
    }
    return _render(fields, log_format)


class ProgressReporter:
    """A daemon thread that reads the run every POLL seconds and shows it: live view or periodic lines."""

    def __init__(
        self,
        read: Callable[[], Reading | None],
        horizon: Horizon,
        out: TextIO,
        live: bool,
        log_format: LogFormat = "text",
        interval: float = LINE_INTERVAL,
        scenario: str = "",
    ) -> None:
        self.read, self.horizon, self.out = read, horizon, out
        self.log_format, self.interval, self.scenario = log_format, interval, scenario
        self._view = None
        if live:
            from producer.observability.live import LiveView  # rich is imported only for a terminal

            self._view = LiveView(out, horizon, scenario)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._first: Reading | None = None
        self._recent: deque[Reading] = deque(maxlen=LIVE_WINDOW)  # the live view's rates span these readings
        self._last_line: Reading | None = None
        self._shown_phase: tuple[str, int] | None = None
        self._started = time.monotonic()
        self._stopped = False

    def start(self) -> None:
        """Start showing progress; elapsed time counts from here."""
        self._started = time.monotonic()
        if self._view is not None:
            self._view.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop (once; later calls do nothing); the live view draws the run's last reading and leaves it on screen."""
        if self._stopped:
            return
        self._stopped = True
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        if self._view is not None:
            self._step()
            self._view.stop()

    def _loop(self) -> None:
        while not self._done.wait(POLL):
            self._step()

    def _step(self) -> None:
        """Read the run once and show it: redraw the view, or print the lines that are due."""
        now = self.read()
        if now is None:  # no worker has reported yet
            return
        first = self._first = self._first or now
        if self._view is not None:
            recent = self._recent
            self._view.update(now, estimate(self.horizon, first, recent[0] if recent else first, now, self._started))
            recent.append(now)
            return
        if now.phase and (now.phase, now.phase_index) != self._shown_phase:
            previous = self._shown_phase[0] if self._shown_phase else ""
            self._say(phase_line(self.horizon, now, previous, now.at - self._started, self.log_format))
            self._shown_phase = (now.phase, now.phase_index)
        last = self._last_line or first
        if now.at - last.at >= self.interval:
            est = estimate(self.horizon, first, last, now, self._started)
            self._say(progress_line(self.horizon, now, est, self.log_format))
            self._last_line = now

    def _say(self, line: str) -> None:
        try:
            print(line, file=self.out, flush=True)
        except (OSError, ValueError):  # the stream is gone (a closed pipe): progress is not worth failing over
            self._done.set()
