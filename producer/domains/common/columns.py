"""Events as columns: a generator's events of one event type as one Part, and rows of parts back as Events.

A generator's `arrivals()` may return Parts instead of Events: each Part is one stream's events
of one event type, one row per event, every field a column. The encoders read the columns
directly (producer.encoding.columnar); tests, JSON lines and anything that wants Python values
ask for `Part.events()`, which builds exactly the Events the generator would otherwise have made.

Column conventions (by the field's Avro type):

- a numpy array, one value per row: int64 for int/long, float64 for double, bool for boolean,
  str or object for string, uuid and enum symbols;
- a list, one Python value per row, as the Event would hold it (None where a nullable field is
  null, a dict for a nested record, a list for an array);
- `Micros(values)`: timestamp-micros as int64 µs since the epoch (datetimes in the Event);
- `Decimals(units, scale)`: decimals as int64 unscaled units (cents at scale 2; Decimals in the Event);
- a dict of columns: a nested record whose every row is present;
- anything else (a str, an int, None...): one value shared by every row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from itertools import count, repeat
from typing import Any

import numpy as np

from producer.domains.common.event import Event

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Rows = np.ndarray | None  # row indices into a part (int64), or None for all of its rows
_next_uid = count().__next__  # every part gets an id, so rows of many parts can be grouped by part in numpy


@dataclass(frozen=True, slots=True)
class Micros:
    """A timestamp-micros column: int64 µs since the epoch."""

    values: np.ndarray


@dataclass(frozen=True, slots=True)
class Decimals:
    """A decimal column: int64 unscaled units (value = units x 10^-scale)."""

    units: np.ndarray
    scale: int


@dataclass(slots=True)
class TruthColumns:
    """The ground-truth labels of a part's rows (each field a column or one shared value)."""

    scenario: str
    phase: Any
    drift_progress: Any
    is_anomaly: Any = False
    pattern: Any = None
    risk_level: Any = None
    injected: Any = False
    # the cross-topic episode a row belongs to (an account-takeover chain's id), None elsewhere
    episode_id: Any = None

    def dicts(self, rows: Rows, n: int) -> list[dict[str, Any]]:
        """The truth dict of each row: rows with the same labels share one dict, as generators share them."""
        names = ("is_anomaly", "pattern", "risk_level", "scenario", "phase", "drift_progress")
        columns = [values(getattr(self, name), rows, n) for name in names]
        injected = values(self.injected, rows, n)
        episodes = values(self.episode_id, rows, n)
        shared: dict[tuple[Any, ...], dict[str, Any]] = {}
        out = []
        for labels in zip(*columns, injected, episodes):
            truth = shared.get(labels)
            if truth is None:
                anomaly, pattern, risk, scenario, phase, progress, inj, episode = labels
                truth = shared[labels] = {
                    "is_anomaly": anomaly,
                    "pattern": pattern,
                    "risk_level": risk,
                    "scenario": scenario,
                    "phase": phase,
                    "drift_progress": progress,
                    "disorder": None,
                    "delay_ms": 0,
                    "injected": inj,
                    "episode_id": episode,
                }
            out.append(truth)
        return out


@dataclass(eq=False, slots=True)
class Part:
    """One stream's events of one event type as columns, one row per event.

    `seq` orders rows of the parts of one `arrivals()` call among themselves where event times
    tie: each row's position in the order the generator would have emitted them (None: the
    part's rows follow the parts before it, in row order).
    """

    stream: str
    event_type: str
    source_service: str
    time_us: np.ndarray  # int64 µs, the envelope timestamp and the record timestamp
    key: Any  # the entity key, a str column
    event_id: Any  # uuid text column
    correlation_id: Any  # uuid text column
    payload: dict[str, Any]
    truth: TruthColumns | None
    seq: np.ndarray | None = None
    event_version: str = "1.0"
    uid: int = field(default_factory=_next_uid, repr=False)
    _events: list[Event] | None = field(default=None, repr=False)  # every row as Events, once asked for
    # (encoders, every row's head and key bytes): the Avro row encoding's cache, as a part goes out over several batches
    encoded: tuple[Any, ...] | None = field(default=None, repr=False)

    def all_events(self) -> list[Event]:
        """Every row's Event, built once: a part's rows are taken in several batches."""
        if self._events is None:
            self._events = self.events()
        return self._events

    def subset(self, rows: np.ndarray) -> Part:
        """A new part of these `rows` only (in this order): held rows must not keep a whole block alive."""
        truth = self.truth
        if truth is not None:
            truth = TruthColumns(**{name: pick(getattr(truth, name), rows) for name in TRUTH_COLUMNS})
        return Part(
            stream=self.stream,
            event_type=self.event_type,
            source_service=self.source_service,
            time_us=self.time_us[rows],
            key=pick(self.key, rows),
            event_id=pick(self.event_id, rows),
            correlation_id=pick(self.correlation_id, rows),
            payload=pick(self.payload, rows),
            truth=truth,
            seq=None if self.seq is None else self.seq[rows],
            event_version=self.event_version,
        )

    def __len__(self) -> int:
        return len(self.time_us)

    def events(self, rows: Rows = None) -> list[Event]:
        """The Events of `rows` (all by default), exactly as a generator building dicts would make them."""
        n = len(self.time_us) if rows is None else len(rows)
        times = values(self.time_us, rows, n)
        stamps = list(map(to_datetime, times))
        seen = {id(self.time_us): stamps}  # a payload timestamp column that is the event time: one datetime each
        payloads = record_dicts(self.payload, rows, n, seen)
        truths = repeat(None, n) if self.truth is None else self.truth.dicts(rows, n)
        envelopes = map(
            _ENVELOPE,
            values(self.event_id, rows, n),
            repeat(self.event_type),
            repeat(self.event_version),
            stamps,
            repeat(self.source_service),
            values(self.correlation_id, rows, n),
            payloads,
            truths,
        )
        columns = zip(repeat(self.stream), values(self.key, rows, n), times, envelopes)
        return list(map(_NEW_TUPLE, repeat(Event), columns))


TRUTH_COLUMNS = ("scenario", "phase", "drift_progress", "is_anomaly", "pattern", "risk_level", "injected", "episode_id")


def pick(column: Any, rows: np.ndarray) -> Any:
    """A column's values at `rows`, in the same convention (a shared value stays shared)."""
    if isinstance(column, np.ndarray):
        return column[rows]
    if isinstance(column, list):
        return [column[i] for i in rows.tolist()]
    if isinstance(column, Micros):
        return Micros(column.values[rows])
    if isinstance(column, Decimals):
        return Decimals(column.units[rows], column.scale)
    if isinstance(column, dict):
        return {name: pick(value, rows) for name, value in column.items()}
    return column


def values(column: Any, rows: Rows, n: int, seen: dict[int, list[Any]] | None = None) -> list[Any]:
    """A column's Python values for `rows` (n of them), converted as the conventions say."""
    if isinstance(column, np.ndarray):
        return (column if rows is None else column[rows]).tolist()
    if isinstance(column, list):
        return column if rows is None else [column[i] for i in rows.tolist()]
    if isinstance(column, Micros):
        if seen is not None and id(column.values) in seen:
            return seen[id(column.values)]
        return list(map(to_datetime, values(column.values, rows, n)))
    if isinstance(column, Decimals):
        return list(map(_decimal(column.scale), values(column.units, rows, n)))
    if isinstance(column, dict):
        return record_dicts(column, rows, n, seen)
    return [column] * n


def record_dicts(
    columns: dict[str, Any], rows: Rows, n: int, seen: dict[int, list[Any]] | None = None
) -> list[dict[str, Any]]:
    """One dict per row of a record's columns, keys in the columns' order."""
    build = _dict_builder(tuple(columns))
    return list(map(build, *(values(column, rows, n, seen) for column in columns.values())))


@cache
def _dict_builder(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function of len(names) values returning the dict of them under `names` (a dict display: the fastest way)."""
    args = ", ".join(f"v{i}" for i in range(len(names)))
    items = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names))
    namespace: dict[str, Any] = {}
    exec(f"def build({args}):\n    return {{{items}}}", namespace)  # names are schema field names
    return namespace["build"]


_ENVELOPE = _dict_builder(
    ("event_id", "event_type", "event_version", "timestamp", "source_service", "correlation_id", "payload", "truth")
)
_NEW_TUPLE = tuple.__new__  # Events from plain tuples without the NamedTuple's Python-level __new__


def to_datetime(time_us: int) -> datetime:
    """Event time in microseconds since the epoch as an aware UTC datetime."""
    return EPOCH + timedelta(0, 0, int(time_us))


def _decimal(scale: int) -> Callable[[int], Decimal]:
    def convert(units: int) -> Decimal:
        return Decimal(units).scaleb(-scale)

    return convert


def as_events(produced: Sequence[Event] | Sequence[Part]) -> list[Event]:
    """What arrivals() returned as Events: Parts materialised in the order the generator emitted them."""
    if not produced or not isinstance(produced[0], Part):
        return list(produced)  # type: ignore[arg-type]
    parts: list[Part] = list(produced)  # type: ignore[arg-type]
    events = [event for p in parts for event in p.events()]
    if all(p.seq is None for p in parts):
        return events
    return [events[i] for i in np.argsort(emission_order(parts), kind="stable").tolist()]


def emission_order(parts: Sequence[Any]) -> np.ndarray:
    """Each row's place in the order the generator emitted the rows of `parts` (one after another).

    A part's `seq` where it has one; a part without rows in the order after the parts before it.
    """
    sizes = [len(p) for p in parts]
    offsets = np.cumsum([0, *sizes[:-1]])
    seq = [p.seq if p.seq is not None else o + np.arange(s) for p, s, o in zip(parts, sizes, offsets, strict=True)]
    return np.concatenate(seq).astype(np.int64, copy=False)
