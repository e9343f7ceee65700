"""The run's statistics: one observer that scheduler and sinks report to; exporters read it."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import itemgetter

import numpy as np

from producer.domains.common.base import EVENT_STREAM, EVENT_VALUE, Event
from producer.domains.common.columns import Part
from producer.domains.common.rows import RowSet

_EVENT_TYPE, _TRUTH = itemgetter("event_type"), itemgetter("truth")
_IS_ANOMALY, _PATTERN = itemgetter("is_anomaly"), itemgetter("pattern")

# delivery latency histogram buckets, in seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# seconds with records outstanding and no acknowledgement before /readyz says deliveries stalled
STALL_AFTER = 8.0


def _always() -> bool:
    return True


@dataclass
class TopicTotals:
    """Per-topic delivery outcome."""

    produced: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    failed: int = 0
    failed_bytes: int = 0


@dataclass
class RunStats:
    """Counters and gauges of a run, updated per batch (never per event under the lock)."""

    scenario: str = ""
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    topics: dict[str, TopicTotals] = field(default_factory=dict)
    # topics of records derived from the events (ground truth, delayed labels, oracle answers): not
    # events themselves, so the summary counts them apart and leaves them out of the achieved rate
    derived_topics: set[str] = field(default_factory=set)
    produced_by_type: Counter = field(default_factory=Counter)  # (topic, event_type) -> n
    injected: Counter = field(default_factory=Counter)  # (topic, pattern) -> n
    latency_buckets: np.ndarray = field(default_factory=lambda: np.zeros(len(LATENCY_BUCKETS) + 1, np.int64))
    latency_sum: float = 0.0
    latency_count: int = 0
    target_rate: float = 0.0
    achieved_rate: float = 0.0
    queue_depth: int = 0
    phase: str = ""
    phase_index: int = 0
    phase_t: float = 0.0  # scenario seconds into the current phase (for the progress view)
    phase_seconds: float = 0.0  # the current phase's length in scenario seconds
    tau: float = 0.0  # scenario seconds played
    event_time_us: int = 0
    drift_progress: dict[str, float] = field(default_factory=dict)  # domain -> p(t)
    delayed_labels: dict[str, int] | None = None  # LabelQueue.counts when the scenario has delayed_labels
    ready: bool = False
    last_heartbeat: float = field(default_factory=time.monotonic)
    first_error: str | None = None
    sink_healthy: Callable[[], bool] = field(default=_always, repr=False)  # e.g. "not all brokers down"
    stall_after: float = STALL_AFTER
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _rate_window: deque = field(default_factory=lambda: deque(maxlen=64), repr=False)
    # (monotonic time, cumulative records handed over) per batch; acknowledged ones are dropped
    _handed_marks: deque = field(default_factory=deque, repr=False)
    _handed: int = 0
    _acked: int = 0
    _last_ack: float = 0.0

    def _topic(self, topic: str) -> TopicTotals:
        totals = self.topics.get(topic)
        if totals is None:
            totals = self.topics[topic] = TopicTotals()
        return totals

    def on_produced(self, events: list[Event], topic_of: dict[str, str], records_per_topic: Counter) -> None:
        """A batch was handed to the sink: count it per topic, event type and injected pattern."""
        self._count(*_event_counts(events), topic_of, records_per_topic)

    def on_rows(self, rows: RowSet, topic_of: dict[str, str], records_per_topic: Counter) -> None:
        """on_produced for a batch of rows: counted from their parts' columns, no Events built."""
        by_type: Counter = Counter()
        patterns: Counter = Counter()
        for part, at in rows.groups():
            if not isinstance(part, Part):  # Events from a generator that builds them: counted as they are
                types, injected = _event_counts(part.events(rows.row[at]))
                by_type.update(types)
                patterns.update(injected)
                continue
            by_type[(part.stream, part.event_type)] += len(at)
            if part.truth is not None:
                patterns.update(_injected(part, rows.row[at]))
        self._count(by_type, patterns, topic_of, records_per_topic)

    def _count(self, by_type: Counter, patterns: Counter, topic_of: dict[str, str], records_per_topic: Counter) -> None:
        """Add a batch's counts: records per topic, events per (stream, event type), injected per (stream, pattern)."""
        with self.lock:
            for topic, count in records_per_topic.items():
                self._topic(topic).produced += count
            self._handed += sum(records_per_topic.values())
            self._handed_marks.append((self.clock(), self._handed))
            for (stream, event_type), count in by_type.items():
                self.produced_by_type[(topic_of[stream], event_type)] += count
            for (stream, pattern), count in patterns.items():
                self.injected[(topic_of[stream], pattern or "unknown")] += count

    def on_delivered(self, topic: str, count: int, nbytes: int) -> None:
        """Sink listener: records delivered."""
        with self.lock:
            totals = self._topic(topic)
            totals.delivered += count
            totals.delivered_bytes += nbytes
            self._acknowledge(count)

    def on_failed(self, topic: str, count: int, nbytes: int, error: str) -> None:
        """Sink listener: records failed for good."""
        with self.lock:
            totals = self._topic(topic)
            totals.failed += count
            totals.failed_bytes += nbytes
            self.first_error = self.first_error or error
            self._acknowledge(count)

    def _acknowledge(self, count: int) -> None:
        """Count records the sink settled (either way); forget batches settled in full. Lock held."""
        self._acked += count
        self._last_ack = self.clock()
        marks = self._handed_marks
        while marks and marks[0][1] <= self._acked:
            marks.popleft()

    def oldest_undelivered_age(self) -> float:
        """Seconds since the oldest record not yet acknowledged was handed to the sink (0 if none)."""
        with self.lock:
            marks = self._handed_marks
            return max(0.0, self.clock() - marks[0][0]) if marks else 0.0

    def stalled_for(self) -> float:
        """Seconds that records have been outstanding with no acknowledgement at all (0 if none).

        Not simply the oldest record's age: at --rate max a deep producer queue makes the oldest
        record seconds old while acknowledgements still stream in, and that is not a stall.
        """
        with self.lock:
            marks = self._handed_marks
            if not marks:
                return 0.0
            return max(0.0, self.clock() - max(marks[0][0], self._last_ack))

    def is_ready(self) -> bool:
        """Connected, the sink reports itself healthy, and deliveries are not stalled."""
        return self.ready and self.sink_healthy() and self.stalled_for() < self.stall_after

    def on_latencies(self, seconds: list[float]) -> None:
        """Sink listener: delivery latencies, folded into histogram buckets in one numpy pass."""
        values = np.asarray(seconds, dtype=float)
        counts = np.bincount(np.searchsorted(LATENCY_BUCKETS, values, side="left"), minlength=len(LATENCY_BUCKETS) + 1)
        with self.lock:
            self.latency_buckets += counts
            self.latency_sum += float(values.sum())
            self.latency_count += len(values)

    def tick(self, now: float, emitted_total: int) -> None:
        """Heartbeat of the scheduler loop; updates the achieved rate over the last few seconds."""
        window = self._rate_window
        window.append((now, emitted_total))
        while len(window) > 2 and now - window[0][0] > 5.0:
            window.popleft()
        t0, n0 = window[0]
        self.achieved_rate = (emitted_total - n0) / (now - t0) if now > t0 else 0.0
        self.last_heartbeat = now

    def totals(self) -> TopicTotals:
        """Sum over topics."""
        with self.lock:
            out = TopicTotals()
            for t in self.topics.values():
                out.produced += t.produced
                out.delivered += t.delivered
                out.delivered_bytes += t.delivered_bytes
                out.failed += t.failed
                out.failed_bytes += t.failed_bytes
            return out


def _event_counts(events: list[Event]) -> tuple[Counter, Counter]:
    """Events per (stream, event type) and anomalous ones per (stream, pattern), with C-level iterators.

    (map, zip, compress: a generator expression per event costs ~1 µs a batch's event.)
    """
    streams = list(map(EVENT_STREAM, events))
    values = list(map(EVENT_VALUE, events))
    by_type = Counter(zip(streams, map(_EVENT_TYPE, values)))
    truths = list(map(_TRUTH, values))
    anomalous = list(map(_IS_ANOMALY, truths))
    return by_type, Counter(zip(compress(streams, anomalous), map(_PATTERN, compress(truths, anomalous))))


def _injected(part: Part, rows: np.ndarray) -> Counter:
    """(stream, pattern) counts of a part's anomalous rows, from its truth columns."""
    truth = part.truth
    assert truth is not None
    anomalous = truth.is_anomaly
    if isinstance(anomalous, np.ndarray | list):
        hits = rows[np.asarray(anomalous, dtype=bool)[rows]]
    else:
        hits = rows if anomalous else rows[:0]
    if not len(hits):
        return Counter()
    pattern = truth.pattern
    if isinstance(pattern, np.ndarray):
        return Counter(zip(repeat(part.stream), pattern[hits].tolist()))
    if isinstance(pattern, list):
        return Counter(zip(repeat(part.stream), (pattern[i] for i in hits.tolist())))
    return Counter({(part.stream, pattern): len(hits)})
