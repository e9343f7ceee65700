"""Scaffolding shared by the domain stream tests: schemas and Avro checks, driving generate(), order, determinism."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any, Generic, TypeVar

import fastavro
import numpy as np
from fastavro.validation import validate

from producer.domains.common.base import BlockContext, DomainParams, Event, StreamGenerator, StreamSpec
from producer.encoding.schemas import schema_dict

G = TypeVar("G", bound=StreamGenerator)
R = TypeVar("R", bound="Run")


# --- schemas and Avro ----------------------------------------------------------------------------------


@cache
def _parsed(schema: str) -> dict[str, Any]:
    """A stream's schema under schemas/, composed as it is registered, parsed once per test session."""
    return fastavro.parse_schema(schema_dict(schema))


def schema_for(spec: StreamSpec) -> dict[str, Any]:
    """The stream's .avsc under schemas/, parsed by fastavro."""
    return _parsed(spec.schema)


def tagged(event: Event, spec: StreamSpec) -> dict[str, Any]:
    """The value with its payload and truth unions in the tuple notation the encoder uses."""
    return dict(
        event.value,
        payload=(spec.event_types[event.event_type], event.value["payload"]),
        truth=("datagen.Truth", event.value["truth"]),
    )


def _specs_by_stream(specs: Sequence[StreamSpec]) -> dict[str, StreamSpec]:
    """The specs by stream name."""
    return {spec.name: spec for spec in specs}


def assert_valid(events: Iterable[Event], *specs: StreamSpec) -> None:
    """Every event validates against the schema of its stream, which must be one of specs."""
    by_stream = _specs_by_stream(specs)
    for e in events:
        spec = by_stream[e.stream]
        assert validate(tagged(e, spec), schema_for(spec), raise_errors=True)


def plain(x: Any) -> Any:
    """Reader output normalised for comparison (uuid logical type reads back as uuid.UUID)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return str(x) if type(x).__name__ == "UUID" else x


def spread_sample(events: Sequence[Event], every: int = 50, first: int = 20) -> list[Event]:
    """Every `every`-th event and the first `first` of each (stream, event type): a cheap cross-section to validate.

    The conformance suite validates every event of each stream's rate-mode sample; this is for the
    other modes' larger runs (replay), where the same records come from other code paths.
    """
    picked = {id(e): e for events in first_of_each_type(events, first).values() for e in events}
    picked.update((id(e), e) for e in events[::every])
    return list(picked.values())


def assert_round_trips(events: Iterable[Event], *specs: StreamSpec) -> None:
    """Every event written with schemaless_writer reads back with schemaless_reader as its value."""
    by_stream = _specs_by_stream(specs)
    for e in events:
        spec = by_stream[e.stream]
        schema = schema_for(spec)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, tagged(e, spec))
        buf.seek(0)
        assert plain(fastavro.schemaless_reader(buf, schema, schema)) == e.value, e.event_type


def first_of_each_type(
    events: Iterable[Event], n: int = 25, limit: Callable[[Event], int] | None = None
) -> dict[tuple[str, str], list[Event]]:
    """The first n events (limit(e) if given) of each (stream, event type), in order."""
    samples: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        kept = samples[e.stream, e.event_type]
        if len(kept) < (n if limit is None else limit(e)):
            kept.append(e)
    return samples


# --- driving generate() --------------------------------------------------------------------------------


def context(
    params: DomainParams, *, injection: dict[str, float] | None = None, drift_progress: float = 0.0
) -> BlockContext:
    """The block context of the tests: scenario "test", phase "p"."""
    return BlockContext(
        scenario="test", phase="p", params=params, injection=injection or {}, drift_progress=drift_progress
    )


def arrival_blocks(start_us: int, blocks: int, block_size: int, spacing_us: int) -> list[np.ndarray]:
    """blocks blocks of block_size arrival instants spacing_us apart from start_us, as the scheduler sends them."""
    return [start_us + (np.arange(block_size, dtype=np.int64) + b * block_size) * spacing_us for b in range(blocks)]


def pending_events(generator: StreamGenerator) -> list[Event]:
    """The events a generator still holds back, in the order it would release them."""
    return generator.held_events()


@dataclass
class Run(Generic[G]):
    """What driving a generator gave: each block's events, each block's arrival instants, the generator."""

    blocks: list[list[Event]]
    times: list[np.ndarray]
    generator: G
    held: list[Event] = field(default_factory=list)  # still pending after the last block, when asked for

    @property
    def arrivals(self) -> int:
        """How many arrival instants were fed."""
        return sum(len(t) for t in self.times)

    @property
    def last_us(self) -> int:
        """The last arrival instant fed."""
        return int(self.times[-1][-1])

    @property
    def starts(self) -> list[int]:
        """Every arrival instant fed, in order."""
        return [t for block in self.times for t in block.tolist()]

    @cached_property
    def events(self) -> list[Event]:
        """The events of every block, then the held ones."""
        return [e for block in self.blocks for e in block] + self.held


class Driver(Generic[G, R]):
    """A seeded generator and one block context, fed block after block as the scheduler does."""

    def __init__(
        self,
        generator_cls: type[G],
        params: DomainParams | None = None,
        *,
        block_size: int,
        into: type[R] = Run,
        seed: int = 7,
        ctx_params: DomainParams | None = None,
        injection: dict[str, float] | None = None,
        drift_progress: float = 0.0,
    ) -> None:
        params = params or generator_cls.Params()
        self.block_size, self.into = block_size, into
        self.rng = np.random.default_rng(seed)
        self.generator = generator_cls(params, self.rng)
        self.ctx = context(ctx_params or params, injection=injection, drift_progress=drift_progress)

    def feed(self, times: list[np.ndarray], *, replay: bool = False, hold: bool = False) -> R:
        """generate() over each block of arrival instants; with hold, what is still pending after the last."""
        blocks = [self.generator.generate(self.rng, t, self.ctx, replay=replay) for t in times]
        return self.into(blocks, times, self.generator, pending_events(self.generator) if hold else [])

    def run(self, start_us: int, blocks: int, spacing_us: int, *, replay: bool = False, hold: bool = False) -> R:
        """feed() over blocks of evenly spaced arrival instants from start_us (see arrival_blocks)."""
        return self.feed(arrival_blocks(start_us, blocks, self.block_size, spacing_us), replay=replay, hold=hold)


def drive(
    generator_cls: type[G],
    params: DomainParams | None = None,
    *,
    blocks: int,
    block_size: int,
    spacing_us: int,
    start_us: int,
    seed: int = 7,
    replay: bool = False,
    hold: bool = False,
    into: type[R] = Run,
    **ctx: Any,
) -> R:
    """A new generator driven over blocks of evenly spaced arrival instants (ctx: ctx_params, injection, drift)."""
    driver = Driver(generator_cls, params, block_size=block_size, into=into, seed=seed, **ctx)
    return driver.run(start_us, blocks, spacing_us, replay=replay, hold=hold)


# --- properties of a run -------------------------------------------------------------------------------


def assert_time_ordered(
    blocks: Sequence[Sequence[Event]], horizons: Sequence[int] | None = None, *, nonempty: bool = False
) -> None:
    """Time order within and across blocks, no event past its block's horizon; with nonempty, no empty block."""
    last = -1
    for b, block in enumerate(blocks):
        times = [e.time_us for e in block]
        assert times == sorted(times)
        assert times or not nonempty, b
        if times:
            assert times[0] >= last
            assert horizons is None or times[-1] <= horizons[b]
            last = times[-1]


def assert_same_seed_same_events(
    make: Callable[..., Run], blocks: int = 6, *, other_blocks: int | None = None, at: tuple[int, int] = (0, 0)
) -> None:
    """Two runs of seed 3 give the same events; a run of seed 4 another event id at blocks[i][j]."""
    a, b = make(blocks=blocks, seed=3), make(blocks=blocks, seed=3)
    assert a.blocks == b.blocks and a.held == b.held
    c = make(blocks=blocks if other_blocks is None else other_blocks, seed=4)
    i, j = at
    assert a.blocks[i][j].value["event_id"] != c.blocks[i][j].value["event_id"]


def pattern_of(e: Event) -> str | None:
    """The event's truth pattern."""
    return e.value["truth"]["pattern"]


def of_type(events: Iterable[Event], event_type: str) -> list[Event]:
    """The events of one event type, in order."""
    return [e for e in events if e.event_type == event_type]
