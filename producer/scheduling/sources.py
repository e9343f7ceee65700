"""Deterministic event sources: each stream in fixed blocks of seeded arrivals, merged by event time.

Determinism rests on three rules. Each stream draws its arrivals in fixed-size blocks, and block
k of stream s uses a generator seeded from (scenario seed, stream name, k) and nothing else.
Event time follows the scenario's nominal rate profile, never the wall clock or the `--rate`
override. Streams are merged by event time with ties broken by stream order. So the sequence of
events depends only on the scenario and the seed; pacing and sinks only decide when it leaves.

The merge never waits on a stream without bound: a stream that has drawn nothing yet (a weight of
1e-12, a ramp from zero) is known to emit nothing before its current scenario instant, so the
others go ahead of it; and each `take()` draws a bounded number of blocks (and fewer in a row that
yield nothing), then returns what it has, so the scheduler's loop (which watches for a stop) runs again.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np

from producer.domains import stream_class
from producer.domains.base import BlockContext, DomainParams, Event, StreamGenerator
from producer.scenario.loader import LoadedScenario
from producer.scenario.model import EVENT_TIME_LIMIT_US
from producer.scheduling.disorder import DisorderStage
from producer.scheduling.drift import DriftPlan
from producer.scheduling.labels import relabel
from producer.scheduling.shard import Shard
from producer.scheduling.timeline import Timeline

BLOCK_ARRIVALS = 256
# blocks in a row that yield no event before take() returns what it has: ~4 ms of work, so a
# scenario that emits (almost) nothing neither blocks a stop request nor burns a core
IDLE_BLOCKS = 64
# blocks one take() may draw in all (a normal take of 2000 events draws a few dozen): tiny phases
# make tiny blocks, each costing a generator call, and a stop request must not wait for thousands
BLOCKS_PER_TAKE = 256
_POOL, _BLOCK, _WARM = 1, 0, 2
# pacing looks this far ahead (event seconds): long enough to see most follow-ups already scheduled
PACING_HORIZON_S = 3.0
PACING_SAMPLES = 4  # rate samples over the horizon (a phase change inside it is seen coming)
LEARNING = 0.2  # weight of a block in the running estimate of in-horizon events per arrival
MIN_ARRIVALS = 0.1  # the arrival rate's floor, as a share of the nominal one
# warm start: the burn-in runs this long in event time before the clock start, capped in events
WARM_EVENT_SECONDS = 120.0
WARM_EVENTS = 10_000
_END: Any = object()  # the merged sequence is exhausted


def stream_shares(weights: list[float]) -> list[float]:
    """Each weight's share of their sum (scaled first when the sum overflows, as 1e308 + 1e308 does)."""
    total = sum(weights)
    if math.isfinite(total):
        return [w / total for w in weights]
    top = max(weights)
    scaled = [w / top for w in weights]
    return [w / sum(scaled) for w in scaled]


def stream_seed(seed: int, stream: str, *key: int) -> np.random.Generator:
    """A generator for one purpose of one stream, independent of every other stream."""
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(stream.encode()), *key))
    return np.random.default_rng(sequence)


class StreamSource:
    """One stream's events in event-time order, block after block, until the scenario ends."""

    def __init__(
        self,
        loaded: LoadedScenario,
        stream: str,
        timeline: Timeline,
        plan: DriftPlan,
        block_arrivals: int = BLOCK_ARRIVALS,
    ) -> None:
        scenario = loaded.scenario
        self.stream = stream
        self.scenario_name = scenario.name
        self.seed = scenario.seed
        self.timeline = timeline
        self.start_us = scenario.clock.start_us
        self.us_per_tau = scenario.clock.speed * 1_000_000
        shares = dict(zip(scenario.streams, stream_shares([s.weight for s in scenario.streams.values()])))
        self.share = shares[stream]
        self.params: DomainParams = loaded.params[stream]
        cls = stream_class(stream)
        self.generator: StreamGenerator = cls(self.params, stream_seed(self.seed, stream, _POOL))
        self.plan = plan
        self.replay = scenario.mode == "replay"
        self.block_arrivals = block_arrivals
        self.drift_progress = 0.0  # of the latest block, for the metrics
        self.tau = 0.0  # scenario instant of the last arrival drawn
        self.block = 0
        # the scenario instant at which event time reaches the end of representable time
        self.limit_tau = (EVENT_TIME_LIMIT_US - self.start_us) / self.us_per_tau
        self.at_time_limit = False
        self.horizon_us: int | None = None  # the last instant up to which held events were released
        # pacing (rate mode): a horizon in scenario seconds, a learned in-horizon yield per arrival,
        # and the events owed so far (target minus emitted since the clock start)
        self.lookahead = PACING_HORIZON_S / scenario.clock.speed
        self.yield_per_arrival = float(self.generator.events_per_arrival)
        self.owed = 0.0
        self.nominal_rate = 0.0  # arrivals/s the horizon's target alone would ask for
        self.warm = self.replay  # replay starts cold: its rate counts entity starts, not events

    def arrival_rate(self, rate: float) -> float:
        """Arrivals per scenario-second in replay: `rate` entity starts/s (rate mode paces in next_block)."""
        return rate * self.share

    def target(self, tau: float, span: float) -> float:
        """Events this stream owes over [tau, tau + span]: its share of the rate profile, integrated."""
        step = span / PACING_SAMPLES
        total = 0.0
        for j in range(PACING_SAMPLES):
            at = tau + (j + 0.5) * step
            if not self.timeline.ended(at):
                total += self.timeline.at(at).rate() * step
        return total * self.share

    def paced_rate(self, tau0: float) -> float:
        """Arrivals per scenario-second that fill what the next horizon still lacks, given what is held."""
        span = min(self.lookahead, self.timeline.total - tau0)  # arrivals stop at the scenario's end
        mark_us = self.start_us + int((tau0 + span) * self.us_per_tau)
        held = self.generator.pending_before(mark_us)
        target = self.target(tau0, span)
        # never fewer than a tenth of the nominal arrivals: held events are released only as arrivals
        # pass them (some generators date an entity's steps at its next arrival), so none would stall
        deficit = max(target + self.owed - held, MIN_ARRIVALS * target)
        per_arrival = span * max(self.yield_per_arrival, 1e-9)
        self.nominal_rate = target / per_arrival
        return deficit / per_arrival

    def next_block(self) -> list[Event] | None:
        """The next block's events (possibly empty), or None once the scenario has ended."""
        if self.share <= 0 or self.timeline.ended(self.tau):
            return None
        if self.tau >= self.limit_tau:
            self.at_time_limit = True
            return None
        if not self.warm:
            self.warm_up()
        events = self._block(self.block, _BLOCK, self.timeline.at(self.tau).phase_end)
        return relabel(events, self.timeline, self.plan, self.start_us, self.us_per_tau)

    def warm_up(self) -> None:
        """Burn-in before the clock start at the first instant's rate, so lifecycles are in flight at t=0.

        Its events dated before the start are dropped; later ones stay held and come out in order.
        Its length is WARM_EVENT_SECONDS of event time, shorter when that would cost over WARM_EVENTS.
        """
        self.warm = True
        rate = self.target(0.0, 1.0)  # the timeline holds the first instant before the start
        if not rate > 0:
            return
        self.tau = -min(WARM_EVENT_SECONDS * 1e6 / self.us_per_tau, WARM_EVENTS / rate)
        index = 0
        while self.tau < 0:
            self._block(index, _WARM, 0.0)
            index += 1
        self.tau, self.owed = 0.0, 0.0

    def _block(self, index: int, purpose: int, end: float) -> list[Event]:
        """Draw one block of arrivals from `self.tau` up to at most `end`; release what is due by its end."""
        tau0 = self.tau
        rate = self.arrival_rate(self.timeline.at(tau0).rate()) if self.replay else self.paced_rate(tau0)
        end = min(end, self.limit_tau)
        if not rate > 1e-300:  # nothing to start (held events cover the horizon, or a ramp from zero)
            self.tau = min(end, tau0 + max(self.lookahead / 16, 1e-3))
            return self._emit(tau0, None, np.empty(0, dtype=np.int64))
        if not self.replay:  # re-plan after a horizon, unless the rate is too low to fill a block in it
            end = min(end, tau0 + max(self.lookahead, self.block_arrivals / max(self.nominal_rate, 1e-300)))
        rng = stream_seed(self.seed, self.stream, purpose, index)
        if purpose == _BLOCK:
            self.block += 1
        taus = tau0 + np.cumsum(rng.exponential(1.0 / rate, size=self.block_arrivals))
        inside = taus[taus < end]
        self.tau = float(inside[-1]) if len(inside) == len(taus) else end
        return self._emit(tau0, rng, self.start_us + (inside * self.us_per_tau).astype(np.int64))

    def _context(self, tau: float) -> BlockContext:
        """Labels and effective parameters at scenario instant `tau` (the burn-in uses the first one's)."""
        tau = max(tau, 0.0)
        params, self.drift_progress = self.plan.params_at(self.stream, tau)
        return BlockContext(
            scenario=self.scenario_name,
            phase=self.timeline.at(tau).phase.name,
            params=params,
            drift_progress=self.drift_progress,
            injection=self.plan.boosts_at(self.stream, tau),
        )

    def _emit(self, tau0: float, rng: np.random.Generator | None, times_us: np.ndarray) -> list[Event]:
        """Generate for these arrivals, release what is due by the last of them, and learn from the result.

        Held events are released only up to the last arrival given, as before: some generators emit
        an entity's steps lazily, at the next arrival, dated between the two.
        """
        if rng is None or not len(times_us):
            out: list[Event] = []
        else:
            horizon = int(times_us[-1]) if self.tau > 0 else min(int(times_us[-1]), self.start_us - 1)
            generator = self.generator
            out = generator.generate(rng, times_us, self._context(tau0), replay=self.replay, horizon_us=horizon)
            self.horizon_us = horizon if self.horizon_us is None else max(horizon, self.horizon_us)
            if not self.replay:
                seen = generator.last_produced_before / len(times_us)
                self.yield_per_arrival += LEARNING * (seen - self.yield_per_arrival)
        if self.replay:
            return out
        self.owed += self.target(tau0, self.tau - tau0) - len(out)
        # burn-in events, and any a generator dates before its arrival, never precede the clock start
        return out if not out or out[0].time_us >= self.start_us else [e for e in out if e.time_us >= self.start_us]

    def events(self) -> Iterator[Event]:
        """Every event of this stream, in event-time order."""
        while (block := self.next_block()) is not None:
            yield from block

    def floor_us(self) -> int:
        """A bound no event this stream has still to emit falls below (µs)."""
        if self.horizon_us is None:  # nothing generated yet, so nothing held: arrivals come after tau
            return self.start_us + int(self.tau * self.us_per_tau)
        # held follow-ups (in the base class or a generator's own queue) lie past the last horizon
        return self.horizon_us


class EventSource:
    """All streams of a scenario merged into one deterministic, event-time-ordered sequence.

    With a shard, every instance generates the same full sequence and keeps only the events whose
    key falls in its slice: n shards together emit exactly the unsharded run's events, with
    disjoint keys. Generation is repeated per shard; encoding and producing (most of the cost) split.
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        block_arrivals: int = BLOCK_ARRIVALS,
        shard: Shard = Shard(),
        idle_blocks: int = IDLE_BLOCKS,
    ) -> None:
        self.loaded = loaded
        self.shard = shard
        self.idle_blocks = idle_blocks
        self.timeline = Timeline(loaded.scenario)
        self.plan = DriftPlan(loaded.scenario, loaded.params)
        self.sources = [
            StreamSource(loaded, name, self.timeline, self.plan, block_arrivals)
            for name, config in loaded.scenario.streams.items()
            if config.weight > 0
        ]
        merged = self._merge()
        disorder = loaded.scenario.disorder
        if disorder is not None:
            merged = DisorderStage(disorder, loaded.scenario.seed).apply(merged)
        self._merged = merged if shard.count == 1 else (e for e in merged if e is None or shard.owns(e.key))
        self.start_us = loaded.scenario.clock.start_us
        self.us_per_tau = loaded.scenario.clock.speed * 1_000_000
        self.replay = loaded.scenario.mode == "replay"
        self._peeked: Event | None = None
        self._blocks_left = BLOCKS_PER_TAKE
        self.ended = False

    def _merge(self) -> Iterator[Event | None]:
        """The streams merged by (event time, stream order), as heapq.merge would; None after idle work.

        Each stream is one heap entry: its next buffered event's time, or, with nothing buffered, the
        bound below which it can emit nothing (so the heap says when it must draw before anyone else).
        """
        buffers: list[deque[Event]] = [deque() for _ in self.sources]
        heap = [(source.floor_us(), i) for i, source in enumerate(self.sources)]
        heapq.heapify(heap)
        idle = 0
        while heap:
            _, i = heap[0]
            buffer = buffers[i]
            if buffer:
                event = buffer.popleft()
                heapq.heapreplace(heap, (buffer[0].time_us if buffer else self.sources[i].floor_us(), i))
                idle = 0
                yield event
                continue
            block = self.sources[i].next_block()
            if block is None:
                heapq.heappop(heap)
                continue
            buffer.extend(block)
            heapq.heapreplace(heap, (buffer[0].time_us if buffer else self.sources[i].floor_us(), i))
            idle = 0 if block else idle + 1
            self._blocks_left -= 1
            if idle >= self.idle_blocks or self._blocks_left <= 0:
                idle = 0
                yield None

    def __iter__(self) -> Iterator[Event]:
        return (event for event in self._merged if event is not None)

    def _next(self) -> Event | None:
        """The next event; None when the merge did a bounded amount of work without one, or has ended."""
        if self._peeked is not None:
            peeked, self._peeked = self._peeked, None
            return peeked
        event: Event | None = next(self._merged, _END)
        if event is _END:
            self.ended = True
            return None
        return event

    def take(self, n: int) -> list[Event]:
        """Up to n next events; fewer when the scenario has ended or this call drew its share of blocks."""
        out: list[Event] = []
        self._blocks_left = BLOCKS_PER_TAKE
        while len(out) < n:
            event = self._next()
            if event is None:
                break
            out.append(event)
        return out

    def take_until(self, tau: float, limit: int) -> list[Event] | None:
        """Events up to scenario instant `tau` (at most `limit`); None once the scenario has ended."""
        horizon = self.start_us + tau * self.us_per_tau
        out: list[Event] = []
        self._blocks_left = BLOCKS_PER_TAKE
        while len(out) < limit:
            event = self._next()
            if event is None:
                return None if self.ended and not out else out
            if event.time_us > horizon:
                self._peeked = event
                break
            out.append(event)
        return out

    @property
    def end_reason(self) -> str:
        """Why the sequence ended: the scenario's last phase, or the end of representable event time."""
        return "event-time-limit" if any(s.at_time_limit for s in self.sources) else "scenario-end"

    def tau_of(self, event: Event) -> float:
        """The scenario instant of an event, from its event time."""
        return (event.time_us - self.start_us) / self.us_per_tau

    def drift_by_domain(self) -> dict[str, float]:
        """The latest drift progress per domain (the largest over its streams)."""
        out: dict[str, float] = {}
        for source in self.sources:
            domain = source.stream.split(".", 1)[0]
            out[domain] = max(out.get(domain, 0.0), source.drift_progress)
        return out

    @property
    def pending_events(self) -> int:
        """Follow-up events generated but not yet due, over all streams."""
        return sum(s.generator.pending_count for s in self.sources)
