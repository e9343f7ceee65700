"""The contract every domain stream generator fulfils: pure, seeded, batch-producing."""

from __future__ import annotations

import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from producer.domains.common.columns import EPOCH, Part, TruthColumns, to_datetime
from producer.domains.common.event import EVENT_KEY, EVENT_STREAM, EVENT_TIME, EVENT_VALUE, Event
from producer.domains.common.rows import RowSet, as_parts

__all__ = ["EPOCH", "EVENT_KEY", "EVENT_STREAM", "EVENT_TIME", "EVENT_VALUE", "Event", "Part", "World", "to_datetime"]

MICROS = 1_000_000


class DomainParams(BaseModel):
    """Base for a stream's parameters: strict, frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def check_weights(v: dict, known: tuple, what: str, need_positive: bool = True) -> dict:
    """A parameter's weight table, checked: known keys, finite non-negative values, optionally a positive total."""
    unknown = sorted(set(v) - set(known), key=str)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected a subset of {list(known)}")
    if any(not math.isfinite(w) or w < 0 for w in v.values()):
        raise ValueError(f"{what} weights must be finite and non-negative")
    if need_positive and sum(v.values()) <= 0:
        raise ValueError(f"{what} weights must sum to more than 0")
    return v


P = TypeVar("P", bound=DomainParams)
# what arrivals() returns: Events, or Parts (columns; see producer.domains.common.columns)
Produced = list[Event] | list[Part]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What the rest of datagen needs to know about a stream: topic, key, event types, schema."""

    name: str  # "<domain>.<stream>", the topic name without prefix
    key_field: str
    event_types: dict[str, str]  # event_type -> Avro record name of its payload
    source_service: str
    schema: str  # path under schemas/, e.g. "fintech/transactions.avsc"
    description: str = ""

    @property
    def domain(self) -> str:
        """The domain part of the stream name."""
        return self.name.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class BlockContext(Generic[P]):
    """What a generator is told about the moment it generates for: labels and effective params."""

    scenario: str
    phase: str
    params: P  # base parameters with any active drift applied
    drift_progress: float = 0.0
    injection: dict[str, float] = field(default_factory=dict)  # pattern -> rate multiplier
    # set for prime only (0 elsewhere): the instant it primes at (event µs) and the partition's paced
    # rate there (events per event-second), so in-flight state can be as large as that rate keeps it
    time_us: int = 0
    event_rate: float = 0.0

    def truth(self, **labels: Any) -> TruthColumns:
        """The ground-truth labels of a part's rows: this block's scenario, phase and drift progress, and `labels`.

        labels: is_anomaly, pattern, risk_level and injected, each a column or one value for every row.
        injected: the row belongs to an anomaly episode drawn while an injection window boosted its
        pattern (see `injects`); the episode's generator keeps the flag on every event of it, so the
        events it emits after the window has closed say they were carried over from it.
        """
        return TruthColumns(self.scenario, self.phase, self.drift_progress, **labels)

    def boost(self, pattern: str) -> float:
        """Multiplier an injection window applies to one anomaly pattern's base rate (1.0 outside)."""
        return self.injection.get(pattern, 1.0)

    def injects(self, pattern: str | None) -> bool:
        """Whether an episode of `pattern` drawn now is an injected one: its rate is boosted above base."""
        return pattern is not None and self.injection.get(pattern, 1.0) > 1.0


def _alone(stream: str, time_us: int) -> BlockContext | None:
    """No other stream runs beside a generator built on its own."""
    return None


@dataclass(frozen=True, slots=True)
class World:
    """What the streams of one virtual partition share: the scenario seed, the partition, each other's settings.

    Streams that draw the same entities (the fintech users) seed them from `rng(purpose, ...)`, which
    depends on the seed and the partition only, so every stream of partition p sees the same users
    whichever process or shard builds it. `context_at(stream, time_us)` is another stream's block
    context at an event instant (its partition's parameters with drift applied, and its injection
    boosts), or None when that stream is not in the run: a pure function of the scenario, so
    generators can agree on a plan (an account-takeover chain) without any shared mutable state.
    """

    seed: int = 0
    partition: int = 0
    context_at: Callable[[str, int], BlockContext | None] = _alone
    start_us: int = 0  # the clock start: shared plans begin there (a burn-in's events are never emitted)

    def rng(self, purpose: str, *key: int) -> np.random.Generator:
        """A generator for one shared purpose of this partition (the same spawn key layout as a stream's)."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(purpose.encode()), self.partition, *key))
        return np.random.default_rng(sequence)

    @classmethod
    def of(cls, rng: np.random.Generator) -> World:
        """A world of its own for a generator built alone (tests): seeded from its pool generator."""
        return cls(seed=int(rng.integers(0, 2**63 - 1)))


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """n RFC 4122 version-4 UUID strings drawn from the seeded generator (formatted in numpy)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    if not n:
        return []
    # bytes.hex() in C, then the five hex groups copied between dashes, one column slice each
    hexes = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    chars = np.full((n, 37), ord("-"), dtype=np.uint8)
    chars[:, 36] = ord(" ")
    for start, stop, to in _UUID_GROUPS:
        chars[:, to : to + stop - start] = hexes[:, start:stop]
    return chars.tobytes().decode("ascii").split()


_UUID_GROUPS = ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24))  # hex [start, stop) -> column


class StreamGenerator(ABC, Generic[P]):
    """A pure generator for one stream: seeded pools at construction, events per block of arrivals.

    Subclasses set `spec`, `Params` and `events_per_arrival`, build their entity pools in
    `__init__` from the given generator, and implement `arrivals()`. They may return events
    later than the block's last arrival (follow-ups such as a completion a few seconds after an
    initiation); the base class holds those back until a later block reaches their time, so each
    stream's output is in event-time order.
    """

    spec: ClassVar[StreamSpec]
    # other streams this generator also emits on (e.g. circle contributions as fintech.transactions)
    companions: ClassVar[tuple[StreamSpec, ...]] = ()
    Params: ClassVar[type[DomainParams]]
    # dotted parameter paths (or their prefixes) that a scenario's drift blocks may move
    driftable: ClassVar[tuple[str, ...]] = ()
    # anomaly pattern names this generator labels and whose rate injection windows may boost
    patterns: ClassVar[tuple[str, ...]] = ()
    events_per_arrival: ClassVar[float] = 1.0  # mean events one arrival yields, for event-time pacing
    # the longest pacing horizon (event seconds) for this stream, when shorter than the default: a
    # stream whose events trail their arrival by minutes needs its estimate corrected more often
    pacing_span_s: ClassVar[float | None] = None
    # integer parameters that size entity pools: a virtual partition holds its share of each
    pool_fields: ClassVar[tuple[str, ...]] = ()
    # event seconds of burn-in before the clock start, after `prime`: enough for held follow-ups and
    # pacing's learned yield to settle; state that takes longer is primed, or lengthens this
    burn_in_s: ClassVar[float] = 30.0

    # whether the generator draws entities or plans shared with other streams (see World): it then
    # takes a `world` keyword argument
    uses_world: ClassVar[bool] = False

    def __init__(self, params: P, rng: np.random.Generator) -> None:
        self.params = params
        self._held = RowSet.empty()  # follow-ups beyond the last horizon, in release order
        self._t0_us: int | None = None  # the first arrival instant given (see _block_times)

    @classmethod
    def create(cls, params: P, rng: np.random.Generator, world: World | None = None) -> StreamGenerator[P]:
        """The generator for `params`, seeded by `rng`; one that uses_world is given `world` (its own when None)."""
        if not cls.uses_world:
            return cls(params, rng)
        return cls(params, rng, world=world)  # type: ignore[call-arg]

    @classmethod
    def partition_params(cls, params: P, partitions: int) -> P:
        """`params` for one of `partitions` virtual partitions: each pool 1/partitions of its size.

        Rounded up, and never below the field's lower bound, so a partition stays a valid stream.
        """
        if partitions == 1 or not cls.pool_fields:
            return params
        update = {}
        for name in cls.pool_fields:
            floor = max((m.ge for m in type(params).model_fields[name].metadata if hasattr(m, "ge")), default=1)
            update[name] = max(math.ceil(getattr(params, name) / partitions), int(floor))
        return params.model_copy(update=update)

    @abstractmethod
    def arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[P]) -> Produced:
        """Events started by arrivals at `times_us` (sorted, µs); follow-ups may lie in the future."""

    def prime(self, rng: np.random.Generator, ctx: BlockContext[P]) -> None:
        """Before the warm-up burn-in (rate mode): put slow-mixing state in its steady state, emitting nothing.

        The burn-in lasts minutes of event time; state that takes far longer to forget where it
        started (a panel whose members evolve over months of snapshots) overrides this to start
        from its stationary mix instead. Draws only from `rng`, so it is as deterministic as a block.
        ctx.time_us and ctx.event_rate say when it primes and at what rate (entities in flight scale with it).
        """

    def yield_at(self, params: P, time_us: int) -> float:
        """Mean events one arrival yields at `time_us` under `params`: pacing's first estimate, at the burn-in.

        The class mean by default; a generator whose yield depends on the date (remittances' seasons)
        says so, or its burn-in (one pacing block, before any yield is learned) runs at the wrong pace.
        """
        return self.events_per_arrival

    def _block_times(self, times_us: np.ndarray) -> np.ndarray:
        """The block's arrival instants as int64 µs; the first instant ever given is kept as _t0_us."""
        times = np.asarray(times_us, dtype=np.int64)
        if self._t0_us is None and len(times):
            self._t0_us = int(times[0])
        return times

    def replay_arrivals(self, rng: np.random.Generator, times_us: np.ndarray, ctx: BlockContext[P]) -> Produced:
        """Replay mode: whole lifecycles of entities starting at `times_us`, at their natural event times.

        Streams whose natural timing is already short (seconds to minutes) need not override this;
        lifecycle streams (days to months) do, so replay shows real calendars. In-flight lifecycles
        are held by the base class until due: memory is start rate x lifecycle length.
        """
        return self.arrivals(rng, times_us, ctx)

    def generate(
        self,
        rng: np.random.Generator,
        times_us: np.ndarray,
        ctx: BlockContext[P],
        replay: bool = False,
        horizon_us: int | None = None,
    ) -> list[Event]:
        """Events of this block in event-time order (see generate_rows), as Events."""
        return self.generate_rows(rng, times_us, ctx, replay, horizon_us).events()

    def generate_rows(
        self,
        rng: np.random.Generator,
        times_us: np.ndarray,
        ctx: BlockContext[P],
        replay: bool = False,
        horizon_us: int | None = None,
    ) -> RowSet:
        """Rows of this block in event-time order: everything due up to the horizon (the last arrival by default).

        What lies beyond the horizon is held and released by a later block. Ties keep emission order,
        and held rows come before a later block's rows of the same time.
        """
        produce = self.replay_arrivals if replay else self.arrivals
        rows = RowSet.of_parts(as_parts(produce(rng, times_us, ctx))) if len(times_us) else RowSet.empty()
        if horizon_us is None:
            horizon_us = int(times_us[-1]) if len(times_us) else -1
        cut = int(np.searchsorted(rows.time_us, horizon_us, side="right"))
        if cut < len(rows):
            self._held = self._held.merged(rows.take(slice(cut, None)).compacted())
            rows = rows.take(slice(0, cut))
        return self.release(horizon_us).merged(rows)

    def release(self, horizon_us: int) -> RowSet:
        """Take every held row due up to `horizon_us`, in event-time order."""
        held = self._held
        cut = int(np.searchsorted(held.time_us, horizon_us, side="right"))
        if not cut:
            return RowSet.empty()
        self._held = held.take(slice(cut, None))
        return held.take(slice(0, cut))

    def held_events(self) -> list[Event]:
        """The follow-ups generated but not yet due, as Events in the order they will be released."""
        return self._held.events()

    def pending_before(self, mark_us: int) -> float:
        """Events already committed before `mark_us`: held ones, and those a generator keeps in its own state."""
        return int(np.searchsorted(self._held.time_us, mark_us, side="left")) + self.scheduled_before(mark_us)

    def scheduled_before(self, mark_us: int) -> float:
        """Events a generator keeps in its own state (not the held queue) and will emit before `mark_us`.

        An expectation is enough: pacing uses it to know what is already coming. Generators that date
        an entity's next steps lazily (a session's actions) override it.
        """
        return 0.0

    @property
    def pending_count(self) -> int:
        """Follow-up events generated but not yet due."""
        return len(self._held)
