"""The scheduler loop: paces the event source into the encoder and sink in small ticks."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

from producer.domains.common.rows import RowSet
from producer.encoding.pipeline import Encoding
from producer.observability.stats import RunStats
from producer.scheduling.sources import EventSource
from producer.sinks.base import Record, Sink

log = logging.getLogger(__name__)

_TOPIC = itemgetter(Record._fields.index("topic"))
TICK_SECONDS = 0.02
MAX_BATCH = 8000  # events per tick at --rate max: large enough to amortise per-batch work, ~0.15 s of it at most


@dataclass(frozen=True)
class Limits:
    """When a run stops on its own: after N events, after a wall duration, or at the scenario's end."""

    events: int | None = None
    duration: float | None = None  # wall seconds


@dataclass
class Pacer:
    """Turns a target rate into a number of events per tick, without catching up beyond one tick."""

    tick: float = TICK_SECONDS
    credit: float = 0.0

    def batch(self, rate: float | None) -> int:
        """Events to emit this tick at `rate` events/s (None = max)."""
        if rate is None:
            return MAX_BATCH
        self.credit = min(self.credit + rate * self.tick, max(rate * self.tick, 1.0) * 2)
        # beyond MAX_BATCH a tick cannot keep up anyway: the loop then runs without sleeping, as at max,
        # and one take() stays short enough for a stop request to be seen promptly
        n = min(int(self.credit), MAX_BATCH)
        self.credit -= n
        return n


class Scheduler:
    """Pulls events in batches, encodes them, hands them to the sink, reports to the stats."""

    def __init__(
        self,
        source: EventSource,
        encoding: Encoding,
        sink: Sink,
        stats: RunStats,
        stop: threading.Event,
        limits: Limits,
        rate_override: float | str | None = None,  # events/s, "max", or None to follow the scenario
        clock: Callable[[], float] = time.monotonic,
        tick: float = TICK_SECONDS,
    ) -> None:
        self.source, self.encoding, self.sink, self.stats = source, encoding, sink, stats
        self.stop, self.limits, self.rate_override = stop, limits, rate_override
        self.clock = clock
        self.pacer = Pacer(tick)
        self.emitted = 0
        self.ended_by = "running"
        self._next_tick, self._tau = 0.0, 0.0  # wall instant of the next tick, scenario instant reached (set by run)
        self._topic_of = {name: encoding.topic(name) for name in encoding.specs}

    def target_rate(self, tau: float) -> float | None:
        """Events/s wanted now (None = as fast as the sink takes)."""
        if self.rate_override == "max":
            return None
        if self.rate_override is not None:
            return self._per_shard(float(self.rate_override))
        point = self.source.timeline.at(tau)
        return None if point.phase.rate.is_max else self._per_shard(point.rate())

    def _per_shard(self, rate: float) -> float:
        """This instance's share of the rate: that of the virtual partitions it plays."""
        return rate * self.source.rate_share

    def run(self) -> str:
        """Run until a limit, the scenario's end or a stop request; returns why it ended."""
        start = self.clock()
        deadline = start + self.limits.duration if self.limits.duration else None
        self._next_tick, self._tau = start, 0.0
        ended = None
        while ended is None:
            ended = self._tick(start, deadline)
        self.ended_by = ended
        return ended

    def _tick(self, start: float, deadline: float | None) -> str | None:
        """One tick: take a batch, emit it, report, wait for the next tick; why the run ended, once it has."""
        if self.stop.is_set():
            return "signal"
        now = self.clock()
        if deadline is not None and now >= deadline:
            return "duration"
        rate, n, rows = self._take(now - start)
        if rows:
            self._emit(rows)
            self._tau = self.source.tau_at(int(rows.time_us[-1]))
        elif rows is None or (n > 0 and self.source.ended):  # a replay with nothing left, or the scenario's end
            return self.source.end_reason
        elif rate is not None and not self.source.replay:
            self._tau += self.pacer.tick  # nothing due yet (e.g. a ramp from zero): scenario time still passes
        if self.limits.events is not None and self.emitted >= self.limits.events:
            return "events"
        self._observe(now, rate, self._tau, rows)
        self.sink.poll()
        self._wait(rate, rows)
        return None

    def _take(self, elapsed: float) -> tuple[float | None, int, RowSet | None]:
        """This tick's target rate, the events asked for (0 in replay) and the batch (None: the replay is over)."""
        if self.source.replay:
            rate, rows = self._replay_batch(elapsed)
            return rate, 0, rows
        rate = self.target_rate(self._tau)
        n = self.pacer.batch(rate)
        if self.limits.events is not None:
            n = min(n, self.limits.events - self.emitted)
        return rate, n, self.source.take_rows(n) if n > 0 else RowSet.empty()

    def _wait(self, rate: float | None, rows: RowSet | None) -> None:
        """Sleep until the next tick when paced; at max, only when the streams drew nothing (do not spin)."""
        if rate is None:
            if not rows:
                self.stop.wait(self.pacer.tick)
            return
        self._next_tick += self.pacer.tick
        now = self.clock()
        if self._next_tick > now:
            self.stop.wait(self._next_tick - now)
        elif now - self._next_tick > self.pacer.tick:
            self._next_tick = now  # fell behind: never burst to catch up beyond one tick

    def _replay_batch(self, elapsed: float) -> tuple[float | None, RowSet | None]:
        """Replay pacing: everything due by now in event time (wall seconds x speed); all of it at max."""
        limit = MAX_BATCH if self.limits.events is None else min(MAX_BATCH, self.limits.events - self.emitted)
        if self.rate_override == "max":
            return None, self.source.take_rows_until(float("inf"), limit)
        if self.rate_override is not None:  # a cap on events/s on top of event-time pacing
            cap = self._per_shard(float(self.rate_override))
            return cap, self.source.take_rows_until(elapsed, min(limit, self.pacer.batch(cap)))
        return 0.0, self.source.take_rows_until(elapsed, limit)

    def _emit(self, rows: RowSet) -> None:
        records = self.encoding.encode_rows(rows)
        self.stats.on_rows(rows, self._topic_of, Counter(map(_TOPIC, records)))
        self.sink.write(records)
        self.emitted += len(rows)

    def finish(self) -> None:
        """Hand over what the encoding still owes at the end (e.g. episodes not yet closed)."""
        records = self.encoding.finish()
        if records:
            self.stats.on_produced([], self._topic_of, Counter(map(_TOPIC, records)))
            self.sink.write(records)

    def _observe(self, now: float, rate: float | None, tau: float, rows: RowSet | None) -> None:
        stats = self.stats
        stats.tick(now, self.emitted)
        stats.target_rate = 0.0 if rate is None else rate
        stats.queue_depth = self.sink.queue_depth()
        stats.drift_progress = self.source.drift_by_domain(tau)
        stats.tau = tau
        if rows:
            point = self.source.timeline.at(tau)
            stats.phase, stats.phase_index = point.phase.name, point.index
            stats.phase_t, stats.phase_seconds = point.t, point.duration
            stats.event_time_us = int(rows.time_us[-1])
