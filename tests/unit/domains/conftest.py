"""Session fixtures of the domain tests: each registered stream's conformance sample, generated once.

The conformance suite (test_conformance.py) checks every stream on its sample; the per-stream files
reuse it for their structural checks (envelope, lifecycle grammar, labels by pattern), so no stream
is generated twice for the same purpose in a session.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

import numpy as np
import pytest

from producer.domains import STREAMS
from producer.domains.common.base import BlockContext, Event, StreamGenerator, StreamSpec, World
from tests.unit.domains.helpers import Run, arrival_blocks, pending_events

START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
# the sample's context: labels that are none of a generator's defaults, so a label not read from ctx shows
SCENARIO, PHASE, DRIFT_PROGRESS = "conformance", "sample-phase", 0.25


@dataclass(frozen=True)
class Recipe:
    """How a stream's conformance sample is drawn: small, yet with every event type and pattern in it."""

    params: dict[str, Any] = field(default_factory=dict)  # overrides of the stream's default parameters
    injection: float = 5.0  # boost of every pattern (an injection window), so each shows in a small sample
    blocks: int = 4
    block_size: int = 256
    spacing_us: int = 50_000
    start_us: int = START_US
    # event types a generator emits on a companion stream, when not all of the companion's
    companion_types: dict[str, frozenset[str]] = field(default_factory=dict)


# Streams whose rare event types or patterns need a push; any other stream gets Recipe() as it is.
RECIPES: dict[str, Recipe] = {
    # a spike is 8-15 transactions: at the default boost of 5 they would be most of the sample
    "fintech.transactions": Recipe(injection=2.0),
    # circles end (completed or failed) only after a whole lifecycle: small circles, a small pool and a
    # high failure rate make both ends, and collusion and fraud, show within 2,048 arrivals
    "fintech.circles": Recipe(
        params={"member_range": [3, 4], "max_active_circles": 20, "circle_failure_rate": 0.3},
        blocks=8,
        spacing_us=20_000,
        companion_types={"fintech.transactions": frozenset({"transaction-initiated", "transaction-completed"})},
    ),
    # sessions last minutes: 512 arrivals a second apart (8.5 minutes) let many of them end. The chain
    # rate (x5, the boost) gives every sample of a chain stream its account_takeover steps, the 51 s
    # transactions and remittances samples too: their steps come from chains started minutes before
    "fintech.sessions": Recipe(params={"account_takeover_chain_rate": 0.2}, blocks=2, spacing_us=1_000_000),
    # late_night_driving only between local midnight and 4:00: start at 23:55 Pacific; short trips so
    # trip-completed and crashes (a crash ends its trip) show
    "telematics.driving-events": Recipe(
        params={
            "trip_duration_minutes": {"mean_minutes": 3.0, "std_minutes": 1.0, "min_minutes": 1.0},
            "crash_rate": 0.05,
            "sustained_speeding_rate": 0.05,
        },
        blocks=8,
        start_us=1_767_254_100_000_000,  # 2026-01-01T07:55:00Z = 23:55 PST
        spacing_us=200_000,
    ),
}


def recipe(stream: str) -> Recipe:
    """The conformance recipe of a registered stream (the default one unless it needs a push)."""
    return RECIPES.get(stream, Recipe())


def output_specs(cls: type[StreamGenerator]) -> tuple[StreamSpec, ...]:
    """The specs a generator emits on: its own, then its companions'."""
    return (cls.spec, *cls.companions)


def expected_types(stream: str) -> set[tuple[str, str]]:
    """(stream, event type) pairs a stream's sample must hold: every type of its spec and its companions'."""
    cls, rec = STREAMS[stream], recipe(stream)
    out = {(cls.spec.name, t) for t in cls.spec.event_types}
    for spec in cls.companions:
        out |= {(spec.name, t) for t in rec.companion_types.get(spec.name, spec.event_types)}
    return out


def sample_context(stream: str, params: Any, **extra: Any) -> BlockContext:
    """The conformance context: its own scenario, phase and drift progress, every pattern boosted."""
    cls, rec = STREAMS[stream], recipe(stream)
    return BlockContext(
        scenario=SCENARIO,
        phase=PHASE,
        params=params,
        drift_progress=DRIFT_PROGRESS,
        injection=dict.fromkeys(cls.patterns, rec.injection),
        **extra,
    )


@cache
def sample_params(stream: str) -> Any:
    """The stream's parameters with the recipe's overrides."""
    cls = STREAMS[stream]
    return cls.Params.model_validate(recipe(stream).params)


@cache
def _sample_context_of(stream: str) -> BlockContext | None:
    return sample_context(stream, sample_params(stream)) if stream in STREAMS else None


def sample_world(seed: int) -> World:
    """The world the samples share: one fintech population, every stream at its recipe's context (chains on)."""
    return World(seed=seed, context_at=lambda stream, time_us: _sample_context_of(stream))


@dataclass
class Sample:
    """A stream's conformance sample: the run, and each event as it was when its block was returned."""

    stream: str
    run: Run
    # each event's truth labels as generate() returned them: copies, as events may share one truth dict
    truths_as_returned: list[dict[str, Any]]
    globals_untouched: bool  # the global `random` and numpy's global state were left as they were

    @property
    def events(self) -> list[Event]:
        """Every event generated, held ones last."""
        return self.run.events


def global_random_state() -> tuple[Any, ...]:
    """The state of the global `random` and numpy's global generator, comparable with ==."""
    legacy = cast(tuple[Any, ...], np.random.get_state(legacy=True))
    return random.getstate(), legacy[1].tobytes(), legacy[2:]


def generate_sample(stream: str, seed: int = 7, blocks: int | None = None) -> Sample:
    """Drive a stream's generator over its recipe's blocks, as the scheduler does."""
    cls, rec = STREAMS[stream], recipe(stream)
    params = sample_params(stream)
    random.seed(0)
    np.random.seed(0)  # the global state, to show generators never touch it
    before = global_random_state()
    rng = np.random.default_rng(seed)
    generator = cls.create(params, rng, sample_world(seed))
    ctx = sample_context(stream, params)
    times = arrival_blocks(rec.start_us, rec.blocks if blocks is None else blocks, rec.block_size, rec.spacing_us)
    out, truths = [], []
    for t in times:
        block = generator.generate(rng, t, ctx)
        out.append(block)
        truths += [dict(e.value["truth"]) for e in block]
    after = global_random_state()
    run = Run(out, times, generator, pending_events(generator))
    truths += [dict(e.value["truth"]) for e in run.held]
    return Sample(stream, run, truths, before == after)


@cache
def conformance_sample(stream: str) -> Sample:
    """A stream's conformance sample, generated once per session (seed 7)."""
    return generate_sample(stream)


@pytest.fixture(scope="session")
def sample_of() -> Any:
    """conformance_sample: `sample_of("fintech.transactions")` is that stream's shared sample."""
    return conformance_sample
