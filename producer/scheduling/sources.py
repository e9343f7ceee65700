"""Deterministic event sources: each stream in fixed blocks of seeded arrivals, merged by event time.

Determinism rests on three rules. Each stream draws its arrivals in fixed-size blocks, and block
k of stream s uses a generator seeded from (scenario seed, stream name, k) and nothing else.
Event time follows the scenario's nominal rate profile, never the wall clock or the `--rate`
override. Streams are merged by event time with ties broken by stream order. So the sequence of
events depends only on the scenario and the seed; pacing and sinks only decide when it leaves.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterator
from itertools import islice
from operator import attrgetter

import numpy as np

from producer.domains import stream_class
from producer.domains.base import BlockContext, DomainParams, Event, StreamGenerator
from producer.scenario.loader import LoadedScenario
from producer.scheduling.disorder import DisorderStage
from producer.scheduling.drift import DriftPlan
from producer.scheduling.shard import Shard
from producer.scheduling.timeline import Timeline

BLOCK_ARRIVALS = 256
_POOL, _BLOCK = 1, 0


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
        total_weight = sum(s.weight for s in scenario.streams.values())
        self.share = scenario.streams[stream].weight / total_weight
        self.params: DomainParams = loaded.params[stream]
        cls = stream_class(stream)
        self.generator: StreamGenerator = cls(self.params, stream_seed(self.seed, stream, _POOL))
        self.plan = plan
        self.replay = scenario.mode == "replay"
        self.block_arrivals = block_arrivals
        self.drift_progress = 0.0  # of the latest block, for the metrics
        self.tau = 0.0  # scenario instant of the last arrival drawn
        self.block = 0

    def arrival_rate(self, rate: float) -> float:
        """Arrivals per scenario-second: for `rate` events/s, or in replay `rate` entity starts/s."""
        if self.replay:
            return rate * self.share
        return rate * self.share / self.generator.events_per_arrival

    def next_block(self) -> list[Event] | None:
        """The next block's events (possibly empty), or None once the scenario has ended."""
        if self.share <= 0 or self.timeline.ended(self.tau):
            return None
        tau0 = self.tau
        point = self.timeline.at(tau0)
        rate = self.arrival_rate(point.rate())
        if rate <= 0:  # a ramp starting from zero: step forward without arrivals
            self.tau = min(point.phase_end, self.tau + max(point.duration / 1000, 0.001))
            return []
        rng = stream_seed(self.seed, self.stream, _BLOCK, self.block)
        self.block += 1
        taus = self.tau + np.cumsum(rng.exponential(1.0 / rate, size=self.block_arrivals))
        inside = taus[taus < point.phase_end]
        self.tau = float(inside[-1]) if len(inside) == len(taus) else point.phase_end
        if not len(inside):
            return []
        times_us = self.start_us + (inside * self.us_per_tau).astype(np.int64)
        params, self.drift_progress = self.plan.params_at(self.stream, tau0)
        ctx = BlockContext(
            scenario=self.scenario_name, phase=point.phase.name, params=params,
            drift_progress=self.drift_progress, injection=self.plan.boosts_at(self.stream, tau0),
        )
        return self.generator.generate(rng, times_us, ctx, replay=self.replay)

    def events(self) -> Iterator[Event]:
        """Every event of this stream, in event-time order."""
        while (block := self.next_block()) is not None:
            yield from block


class EventSource:
    """All streams of a scenario merged into one deterministic, event-time-ordered sequence.

    With a shard, every instance generates the same full sequence and keeps only the events whose
    key falls in its slice: n shards together emit exactly the unsharded run's events, with
    disjoint keys. Generation is repeated per shard; encoding and producing (most of the cost) split.
    """

    def __init__(self, loaded: LoadedScenario, block_arrivals: int = BLOCK_ARRIVALS, shard: Shard = Shard()) -> None:
        self.loaded = loaded
        self.shard = shard
        self.timeline = Timeline(loaded.scenario)
        self.plan = DriftPlan(loaded.scenario, loaded.params)
        self.sources = [
            StreamSource(loaded, name, self.timeline, self.plan, block_arrivals)
            for name, config in loaded.scenario.streams.items()
            if config.weight > 0
        ]
        merged = heapq.merge(*(s.events() for s in self.sources), key=attrgetter("time_us"))
        disorder = loaded.scenario.disorder
        if disorder is not None:
            merged = DisorderStage(disorder, loaded.scenario.seed).apply(merged)
        self._merged = merged if shard.count == 1 else (e for e in merged if shard.owns(e.key))
        self.start_us = loaded.scenario.clock.start_us
        self.us_per_tau = loaded.scenario.clock.speed * 1_000_000
        self.replay = loaded.scenario.mode == "replay"
        self._peeked: Event | None = None

    def __iter__(self) -> Iterator[Event]:
        return self._merged

    def take(self, n: int) -> list[Event]:
        """Up to n next events (fewer only when the scenario has ended)."""
        if self._peeked is not None:
            first, self._peeked = self._peeked, None
            return [first, *islice(self._merged, n - 1)]
        return list(islice(self._merged, n))

    def take_until(self, tau: float, limit: int) -> list[Event] | None:
        """Events up to scenario instant `tau` (at most `limit`); None once the scenario has ended."""
        horizon = self.start_us + tau * self.us_per_tau
        out: list[Event] = []
        while len(out) < limit:
            event = self._peeked if self._peeked is not None else next(self._merged, None)
            self._peeked = None
            if event is None:
                return out or None
            if event.time_us > horizon:
                self._peeked = event
                break
            out.append(event)
        return out

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
