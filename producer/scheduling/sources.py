"""Deterministic event sources: each stream as virtual partitions of seeded arrival blocks, merged by event time.

A stream is split into the scenario's `virtual_partitions`. Each is a generator of its
own, with 1/partitions of the stream's entity pools and of its rate, and its own seeded random
streams, so it depends on nothing outside itself. Determinism rests on three rules. Each partition
draws its arrivals in fixed-size blocks, and block k of partition p of stream s uses a generator
seeded from (scenario seed, s, p, k) and nothing else. Event time follows the scenario's nominal
rate profile, never the wall clock or the `--rate` override. Partitions are merged by event time
with ties broken by (stream order, partition). So the events depend only on the scenario and the
seed, and a shard, which plays only the partitions it owns, generates exactly its part of them.

The merge never waits on a stream without bound: a stream that has drawn nothing yet (a weight of
1e-12, a ramp from zero) is known to emit nothing before its current scenario instant, so the
others go ahead of it; and each `take()` draws a bounded number of blocks (and fewer in a row that
yield nothing), then returns what it has, so the scheduler's loop (which watches for a stop) runs again.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import zlib
from collections.abc import Iterator

import numpy as np

from producer.domains import stream_class
from producer.domains.common.base import BlockContext, DomainParams, Event, StreamGenerator, World
from producer.domains.common.rows import RowSet
from producer.scenario.loader import LoadedScenario
from producer.scenario.model import EVENT_TIME_LIMIT_US, MAX_PHASE_SECONDS
from producer.scheduling.disorder import DisorderStage
from producer.scheduling.drift import DriftPlan
from producer.scheduling.labels import relabel
from producer.scheduling.merge import Keys, Merge
from producer.scheduling.shard import Shard
from producer.scheduling.timeline import Timeline

BLOCK_ARRIVALS = 1024
# blocks in a row that yield no event before take() returns what it has: ~4 ms of work, so a
# scenario that emits (almost) nothing neither blocks a stop request nor burns a core
IDLE_BLOCKS = 64
# blocks one take() may draw in all (a normal take of 2000 events draws a few dozen): tiny phases
# make tiny blocks, each costing a generator call, and a stop request must not wait for thousands
BLOCKS_PER_TAKE = 256
_POOL, _BLOCK, _WARM, _PRIME = 1, 0, 2, 3
# pacing looks this far ahead (event seconds): long enough to see most follow-ups already scheduled
PACING_HORIZON_S = 3.0
# and at most this long (event seconds), however few arrivals a partition draws in it (a generator
# whose events trail their arrival by minutes sets a shorter `pacing_span_s`): pacing corrects its
# estimate once per horizon, and a block's fixed overhead is paid once per horizon
PACING_MAX_SPAN_S = 60.0
MIN_PLANNED_ARRIVALS = 16  # a horizon expecting fewer arrivals than this is lengthened until it does
PACING_SAMPLES = 4  # rate samples over the horizon (a phase change inside it is seen coming)
# the estimate of in-horizon events per arrival is a ratio of decayed sums (events, arrivals): each
# block keeps this share of the past, and the generator's own mean counts as one arrival's worth
FORGET = 0.8
MIN_ARRIVALS = 0.1  # the arrival rate's floor, as a share of the nominal one
# warm start: the burn-in (a generator's burn_in_s of event time before the clock start) is capped in events
WARM_EVENTS = 10_000


def stream_shares(weights: list[float]) -> list[float]:
    """Each weight's share of their sum (scaled first when the sum overflows, as 1e308 + 1e308 does)."""
    total = sum(weights)
    if math.isfinite(total):
        return [w / total for w in weights]
    top = max(weights)
    scaled = [w / top for w in weights]
    return [w / sum(scaled) for w in scaled]


def _stream_key(stream: str) -> int:
    return zlib.crc32(stream.encode())


def stream_seed(seed: int, stream: str, *key: int) -> np.random.Generator:
    """A generator for one purpose of one stream, independent of every other stream."""
    sequence = np.random.SeedSequence(seed, spawn_key=(_stream_key(stream), *key))
    return np.random.default_rng(sequence)


class Contexts:
    """Every stream's block context at an event instant, for one virtual partition: what World.context_at answers.

    A pure function of the scenario (drift and injection plans, the timeline), so the generators of a
    partition agree on it wherever they run. Instants before the clock start read the first one's.
    """

    def __init__(self, loaded: LoadedScenario, timeline: Timeline, plan: DriftPlan) -> None:
        scenario = loaded.scenario
        self.scenario_name, self.partitions = scenario.name, scenario.virtual_partitions
        self.start_us, self.us_per_tau = scenario.clock.start_us, scenario.clock.speed * 1_000_000
        self.timeline, self.plan = timeline, plan
        self.present = {name for name, config in scenario.streams.items() if config.weight > 0}
        self._scaled: dict[str, tuple[DomainParams, DomainParams]] = {}  # drifted params, per partition

    def at(self, stream: str, time_us: int) -> BlockContext | None:
        """`stream`'s context at event instant `time_us`, or None when the scenario does not run it."""
        if stream not in self.present:
            return None
        tau = max((time_us - self.start_us) / self.us_per_tau, 0.0)
        drifted, progress = self.plan.params_at(stream, tau)
        cached = self._scaled.get(stream)
        if cached is None or cached[0] is not drifted:
            cached = self._scaled[stream] = (drifted, stream_class(stream).partition_params(drifted, self.partitions))
        phase = self.timeline.at(tau).phase.name
        return BlockContext(self.scenario_name, phase, cached[1], progress, self.plan.boosts_at(stream, tau))


class StreamSource:
    """One virtual partition of a stream: its events in event-time order, block after block, until the scenario ends."""

    def __init__(
        self,
        loaded: LoadedScenario,
        stream: str,
        timeline: Timeline,
        plan: DriftPlan,
        block_arrivals: int = BLOCK_ARRIVALS,
        partition: int = 0,
    ) -> None:
        scenario = loaded.scenario
        self.stream = stream
        self.partition, self.partitions = partition, scenario.virtual_partitions
        self.scenario_name = scenario.name
        self.seed = scenario.seed
        self.timeline = timeline
        self.start_us = scenario.clock.start_us
        self.us_per_tau = scenario.clock.speed * 1_000_000
        shares = dict(zip(scenario.streams, stream_shares([s.weight for s in scenario.streams.values()])))
        self.share = shares[stream] / self.partitions
        self.cls = stream_class(stream)
        self.params: DomainParams = self.cls.partition_params(loaded.params[stream], self.partitions)
        world = World(self.seed, partition, Contexts(loaded, timeline, plan).at, self.start_us)
        self.generator: StreamGenerator = self.cls.create(self.params, self._seed(_POOL), world)
        self._scaled: tuple[DomainParams | None, DomainParams] = (None, self.params)  # drifted params, per partition
        self.plan = plan
        self.replay = scenario.mode == "replay"
        self.block_arrivals = block_arrivals
        self.drift_progress = 0.0  # at the latest block's start: its events' context
        self.tau = 0.0  # scenario instant of the last arrival drawn
        self.block = 0
        # the scenario instant at which event time reaches the end of representable time
        self.limit_tau = (EVENT_TIME_LIMIT_US - self.start_us) / self.us_per_tau
        self.at_time_limit = False
        self.horizon_us: int | None = None  # the last instant up to which held events were released
        # pacing (rate mode): a horizon in scenario seconds, a learned in-horizon yield per arrival,
        # and the events owed so far (target minus emitted since the clock start)
        self.lookahead = PACING_HORIZON_S / scenario.clock.speed
        self._yield_sums = (float(self.generator.events_per_arrival), 1.0)  # decayed (events, arrivals)
        self.owed = 0.0
        self.span = self.lookahead  # the latest pacing horizon (scenario seconds)
        self._committed = (0, 0.0)  # the horizon's mark (µs) and what was committed before it, before the block
        longest = min(PACING_MAX_SPAN_S, self.cls.pacing_span_s or PACING_MAX_SPAN_S)
        self.max_span = max(longest / scenario.clock.speed, self.lookahead)
        # partitions re-plan out of step: a block's events are not spread evenly over its horizon
        # (held follow-ups come early, new ones late), and in step these shapes would add up
        self.stagger = False  # set once the burn-in is done
        self.warm = self.replay  # replay starts cold: its rate counts entity starts, not events

    @property
    def yield_per_arrival(self) -> float:
        """Learned events an arrival adds inside the pacing horizon (the generator's own mean at first)."""
        events, arrivals = self._yield_sums
        return events / arrivals

    def _seed(self, *key: int) -> np.random.Generator:
        """A generator for one purpose of this partition, independent of every other partition and stream."""
        return stream_seed(self.seed, self.stream, self.partition, *key)

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
        """Arrivals per scenario-second that fill what the next horizon still lacks, given what is held.

        The horizon is PACING_HORIZON_S of event time, or longer (up to PACING_MAX_SPAN_S) when this
        partition's rate is so low that a block of arrivals would not fill it: a block then covers
        the whole horizon, so the learned yield (events inside the horizon per arrival) is measured
        over the span it paces.
        """
        yield_ = max(self.yield_per_arrival, 1e-9)
        wanted = self.target(tau0, self.lookahead) / self.lookahead  # events/s
        span = self.lookahead
        if wanted > 0:  # a block's worth of arrivals if it fits the longest horizon, and never too few to plan
            fill = self.block_arrivals * yield_ / wanted
            span = max(span, min(fill, self.max_span), min(fill, MIN_PLANNED_ARRIVALS * yield_ / wanted))
            span = min(span, MAX_PHASE_SECONDS)  # finite, however small the rate (a weight of 1e-300)
        if self.stagger:  # the first horizon of partition p is (p+1)/partitions long: see __init__
            span, self.stagger = span * (self.partition + 1) / self.partitions, False
        left = self.timeline.total - tau0  # arrivals stop at the scenario's end; no short last horizon
        self.span = span = left if left < 1.5 * span else span
        mark_us = self.start_us + int((tau0 + span) * self.us_per_tau)
        held = self.generator.pending_before(mark_us)
        self._committed = (mark_us, held)
        target = self.target(tau0, span)
        # never fewer than a tenth of the nominal arrivals: held events are released only as arrivals
        # pass them (some generators date an entity's steps at its next arrival), so none would stall
        deficit = max(target + self.owed - held, MIN_ARRIVALS * target)
        return deficit / (span * yield_)

    def next_block(self) -> RowSet | None:
        """The next block's rows (possibly empty), or None once the scenario has ended."""
        if self.share <= 0 or self.timeline.ended(self.tau):
            return None
        if self.tau >= self.limit_tau:
            self.at_time_limit = True
            return None
        if not self.warm:
            self.warm_up()
        rows = self._block(self.block, _BLOCK, self.timeline.block_end(self.tau))
        return relabel(rows, self.timeline, self.plan, self.start_us, self.us_per_tau)

    def warm_up(self) -> None:
        """Burn-in before the clock start at the first instant's rate, so lifecycles are in flight at t=0.

        Its events dated before the start are dropped; later ones stay held and come out in order.
        The generator first primes its slow-mixing state (StreamGenerator.prime). Its length is
        the generator's `burn_in_s` of event time, shorter when that would cost this partition over WARM_EVENTS.
        """
        self.warm = True
        rate = self.target(0.0, 1.0)  # the timeline holds the first instant before the start
        if not rate > 0:
            self.stagger = True
            return
        self.tau = -min(self.cls.burn_in_s * 1e6 / self.us_per_tau, WARM_EVENTS / rate)
        at_us, per_event_second = self.start_us + int(self.tau * self.us_per_tau), rate * 1e6 / self.us_per_tau
        ctx = dataclasses.replace(self._context(self.tau), time_us=at_us, event_rate=per_event_second)
        self._yield_sums = (float(self.generator.yield_at(ctx.params, at_us)), 1.0)  # the burn-in's pace
        self.generator.prime(self._seed(_PRIME), ctx)
        index = 0
        while self.tau < 0:
            self._block(index, _WARM, 0.0)
            index += 1
        self.tau, self.owed, self.stagger = 0.0, 0.0, True

    def _block(self, index: int, purpose: int, end: float) -> RowSet:
        """Draw one block of arrivals from `self.tau` up to at most `end`; release what is due by its end."""
        tau0 = self.tau
        rate = self.arrival_rate(self.timeline.at(tau0).rate()) if self.replay else self.paced_rate(tau0)
        end = min(end, self.limit_tau)
        if not rate > 1e-300:  # nothing to start (held events cover the horizon, or a ramp from zero)
            self.tau = min(end, tau0 + max(self.lookahead / 16, 1e-3))
            return self._emit(tau0, None, np.empty(0, dtype=np.int64))
        rng = self._seed(purpose, index)
        if purpose == _BLOCK:
            self.block += 1
        if self.replay:
            taus = tau0 + np.cumsum(rng.exponential(1.0 / rate, size=self.block_arrivals))
            inside = taus[taus < end]
            self.tau = float(inside[-1]) if len(inside) == len(taus) else end
        else:
            inside = self._paced_arrivals(rng, tau0, min(end, tau0 + self.span), rate)
        return self._emit(tau0, rng, self.start_us + (inside * self.us_per_tau).astype(np.int64))

    def _paced_arrivals(self, rng: np.random.Generator, tau0: float, end: float, rate: float) -> np.ndarray:
        """Arrival instants over [tau0, end) at `rate`: their expected count, placed uniformly at random.

        Given its count, a Poisson process is that many uniform instants; fixing the count at its
        expectation (rounded at random) keeps each horizon's arrivals from swinging by their square root.
        A block holds at most `block_arrivals`: beyond that it ends where they run out.
        """
        expected = rate * (end - tau0)
        if expected > self.block_arrivals:
            end, count = tau0 + self.block_arrivals / rate, self.block_arrivals
        else:
            count = int(expected + rng.random())
        self.tau = end
        return tau0 + np.sort(rng.random(count)) * (end - tau0)

    def _context(self, tau: float) -> BlockContext:
        """Labels and effective parameters at scenario instant `tau` (the burn-in uses the first one's)."""
        tau = max(tau, 0.0)
        drifted, self.drift_progress = self.plan.params_at(self.stream, tau)
        if drifted is not self._scaled[0]:
            self._scaled = (drifted, self.cls.partition_params(drifted, self.partitions))
        params = self._scaled[1]
        return BlockContext(
            scenario=self.scenario_name,
            phase=self.timeline.at(tau).phase.name,
            params=params,
            drift_progress=self.drift_progress,
            injection=self.plan.boosts_at(self.stream, tau),
        )

    def _emit(self, tau0: float, rng: np.random.Generator | None, times_us: np.ndarray) -> RowSet:
        """Generate for these arrivals, release what is due by the last of them, and learn from the result.

        Held events are released only up to the last arrival given, as before: some generators emit
        an entity's steps lazily, at the next arrival, dated between the two.
        """
        if rng is None or not len(times_us):
            out = RowSet.empty()
        else:
            horizon = int(times_us[-1]) if self.tau > 0 else min(int(times_us[-1]), self.start_us - 1)
            generator = self.generator
            out = generator.generate_rows(rng, times_us, self._context(tau0), self.replay, horizon)
            self.horizon_us = horizon if self.horizon_us is None else max(horizon, self.horizon_us)
            if not self.replay:  # events these arrivals added before the horizon's mark, emitted or still to come
                mark_us, held = self._committed
                seen = len(out) + generator.pending_before(mark_us) - held
                events, arrivals = self._yield_sums
                self._yield_sums = (FORGET * events + seen, FORGET * arrivals + len(times_us))
        if self.replay:
            return out
        self.owed += self.target(tau0, self.tau - tau0) - len(out)
        # burn-in events, and any a generator dates before its arrival, never precede the clock start
        if not len(out) or out.time_us[0] >= self.start_us:
            return out
        return out.take(slice(int(np.searchsorted(out.time_us, self.start_us, side="left")), None))

    def events(self) -> Iterator[Event]:
        """Every event of this stream, in event-time order."""
        while (block := self.next_block()) is not None:
            yield from block.events()

    def floor_us(self) -> int:
        """A bound no event this stream has still to emit falls below (µs)."""
        if self.horizon_us is None:  # nothing generated yet, so nothing held: arrivals come after tau
            return self.start_us + int(self.tau * self.us_per_tau)
        # held follow-ups (in the base class or a generator's own queue) lie past the last horizon
        return self.horizon_us


class PartitionFeed:
    """A partition's blocks with their merge keys: event times, or release instants once disordered."""

    def __init__(self, source: StreamSource, disorder: DisorderStage | None) -> None:
        self.source, self.disorder = source, disorder
        self.ended = False

    def next_block(self) -> tuple[RowSet, Keys] | None:
        """The next block and its keys, or None once the partition (and its held-back rows) is done."""
        if self.ended:
            return None
        block = self.source.next_block()
        disorder = self.disorder
        if block is None:
            self.ended = True
            return disorder.flush() if disorder is not None and disorder.held else None
        if disorder is not None:
            return disorder.apply(block)
        return block, block.time_us

    def floor_us(self) -> int:
        """No key this feed has still to hand over is below this."""
        floor = self.source.floor_us()
        held = self.disorder.floor_us() if self.disorder is not None else None
        return floor if held is None else min(floor, held)


class EventSource:
    """All streams of a scenario, each as its virtual partitions, merged into one event-time-ordered sequence.

    With a shard i/n, only the partitions p with p mod n == i are generated: n shards together emit
    exactly the unsharded run's events, each generating (and encoding, and producing) only its own.
    """

    def __init__(
        self,
        loaded: LoadedScenario,
        block_arrivals: int = BLOCK_ARRIVALS,
        shard: Shard = Shard(),
        idle_blocks: int = IDLE_BLOCKS,
    ) -> None:
        scenario = loaded.scenario
        self.loaded = loaded
        self.shard = shard
        self.idle_blocks = idle_blocks
        self.timeline = Timeline(scenario)
        self.plan = DriftPlan(scenario, loaded.params)
        owned = shard.partitions(scenario.virtual_partitions)
        # the share of every stream's rate this instance generates
        self.rate_share = len(owned) / scenario.virtual_partitions
        self.sources = [
            StreamSource(loaded, name, self.timeline, self.plan, block_arrivals, partition)
            for name, config in scenario.streams.items()
            if config.weight > 0
            for partition in owned
        ]
        self.streams = list(dict.fromkeys(source.stream for source in self.sources))
        disorder = scenario.disorder
        self.disorders = [
            None if disorder is None else DisorderStage(disorder, scenario.seed, _stream_key(s.stream), s.partition)
            for s in self.sources
        ]
        self.merge = Merge([PartitionFeed(s, d) for s, d in zip(self.sources, self.disorders)])
        self.start_us = scenario.clock.start_us
        self.us_per_tau = scenario.clock.speed * 1_000_000
        self.replay = scenario.mode == "replay"
        self.ended = False

    def warm_up(self, stop: threading.Event | None = None) -> None:
        """Run every partition's burn-in now (otherwise each runs at its first block); stops early on `stop`."""
        for source in self.sources:
            if stop is not None and stop.is_set():
                return
            if not source.warm:
                source.warm_up()

    def __iter__(self) -> Iterator[Event]:
        merge = self.merge
        while not merge.exhausted or merge.ready_count:
            if not merge.ready_count:
                merge.fill(BLOCK_ARRIVALS, BLOCKS_PER_TAKE, self.idle_blocks)
            yield from merge.take(merge.ready_count).events()

    def _ready(self, want: int) -> bool:
        """Draw (bounded work) until `want` rows are ready; False when none is and the sequence has ended."""
        merge = self.merge
        if merge.ready_count < want:
            merge.fill(want, BLOCKS_PER_TAKE, self.idle_blocks)
        if not merge.ready_count and merge.exhausted:
            self.ended = True
        return bool(merge.ready_count)

    def take_rows(self, n: int) -> RowSet:
        """Up to n next rows; fewer when the scenario has ended or this call drew its share of blocks."""
        if n <= 0 or not self._ready(n):
            return RowSet.empty()
        return self.merge.take(n)

    def take(self, n: int) -> list[Event]:
        """Up to n next events (take_rows as Events)."""
        return self.take_rows(n).events()

    def take_rows_until(self, tau: float, limit: int) -> RowSet | None:
        """Rows up to scenario instant `tau` (at most `limit`); None once the scenario has ended."""
        horizon = self.start_us + tau * self.us_per_tau
        if not self._ready(1):
            return None if self.ended else RowSet.empty()
        ready = self.merge.take(self.merge.ready_count)
        later = np.flatnonzero(ready.time_us > horizon)  # disordered rows are in release order, not time order
        cut = min(limit, int(later[0]) if len(later) else len(ready))
        if cut < len(ready):
            self.merge.give_back(ready.take(slice(cut, None)))
        return ready.take(slice(0, cut))

    @property
    def end_reason(self) -> str:
        """Why the sequence ended: the scenario's last phase, or the end of representable event time."""
        return "event-time-limit" if any(s.at_time_limit for s in self.sources) else "scenario-end"

    def tau_of(self, event: Event) -> float:
        """The scenario instant of an event, from its event time."""
        return self.tau_at(event.time_us)

    def tau_at(self, time_us: int) -> float:
        """The scenario instant of an event time."""
        return (time_us - self.start_us) / self.us_per_tau

    def drift_by_domain(self, tau: float) -> dict[str, float]:
        """Drift progress per domain at scenario instant `tau` (the largest over its streams).

        From the plan at `tau`, not from the latest block's start: a block can span seconds of a
        drift window, and the metric and the progress view would stand still over it.
        """
        out: dict[str, float] = {}
        for stream in self.streams:
            domain = stream.split(".", 1)[0]
            out[domain] = max(out.get(domain, 0.0), self.plan.drift_progress(stream, tau))
        return out

    @property
    def pending_events(self) -> int:
        """Follow-up events generated but not yet due, and disordered ones held back, over all partitions."""
        held = sum(d.held for d in self.disorders if d is not None)
        return held + sum(s.generator.pending_count for s in self.sources)
