"""Rows of Parts in an order: what generators hold back, partitions hand to the merge, and the encoders read.

A RowSet is three int64 columns (part id, row within the part, event time) over a dict of the
parts they point into, plus per-row labels the scheduling stages add (phase and drift progress
from the row's own time, a disorder and its delay). Sorting, cutting and merging rows are array
operations; no per-event object exists until someone asks for `events()`.

Generators that still return Events are carried as EventsParts (one per stream), so both kinds
flow through the same stages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from producer.domains.common.columns import Part, Rows, _next_uid, emission_order
from producer.domains.common.event import Event

DISORDERS = (None, "late", "out_of_order", "duplicate")  # truth.disorder by code
_EMPTY = np.empty(0, np.int64)
_EMPTY.flags.writeable = False


class EventsPart:
    """One stream's Events, from a generator that builds them itself, addressed by row like a Part."""

    __slots__ = ("_events", "seq", "stream", "time_us", "uid")

    def __init__(self, stream: str, events: list[Event], seq: np.ndarray) -> None:
        self.uid = _next_uid()
        self.stream, self._events, self.seq = stream, events, seq
        self.time_us = np.fromiter((e.time_us for e in events), np.int64, len(events))

    def __len__(self) -> int:
        return len(self._events)

    def events(self, rows: Rows = None) -> list[Event]:
        """The Events of `rows` (all by default)."""
        return self._events if rows is None else [self._events[i] for i in rows.tolist()]

    def subset(self, rows: np.ndarray) -> EventsPart:
        """A new part of these `rows` only (in this order)."""
        return EventsPart(self.stream, self.events(rows), self.seq[rows])

    def all_events(self) -> list[Event]:
        """Every row's Event."""
        return self._events


AnyPart = Part | EventsPart


def as_parts(produced: Sequence[Event] | Sequence[Part]) -> list[AnyPart]:
    """What arrivals() returned, as parts: Events grouped into one EventsPart per stream, in emission order."""
    if not produced or isinstance(produced[0], Part):
        return list(produced)  # type: ignore[arg-type]
    events: Sequence[Event] = produced  # type: ignore[assignment]
    by_stream: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_stream.setdefault(event.stream, []).append(i)
    return [EventsPart(s, [events[i] for i in at], np.array(at, np.int64)) for s, at in by_stream.items()]


class RowSet:
    """Rows of parts in order, with the labels stages gave them (each label column is None until given)."""

    __slots__ = ("delay_ms", "disorder", "drift", "parts", "phase", "pid", "row", "time_us")

    def __init__(
        self,
        parts: dict[int, AnyPart],
        pid: np.ndarray,
        row: np.ndarray,
        time_us: np.ndarray,
        labels: Mapping[str, np.ndarray | None] | None = None,
    ) -> None:
        self.parts, self.pid, self.row, self.time_us = parts, pid, row, time_us
        labels = labels or {}
        self.phase = labels.get("phase")  # object array of phase names
        self.drift = labels.get("drift")  # float64 drift progress
        self.disorder = labels.get("disorder")  # int8 codes into DISORDERS
        self.delay_ms = labels.get("delay_ms")  # int64

    @classmethod
    def empty(cls) -> RowSet:
        """No rows."""
        return cls({}, _EMPTY, _EMPTY, _EMPTY)

    @classmethod
    def of_parts(cls, parts: Sequence[AnyPart]) -> RowSet:
        """Every row of `parts` in (time, seq) order: the order a stable sort of the emitted Events by time gives."""
        if not parts:
            return cls.empty()
        sizes = [len(p) for p in parts]
        pid = np.repeat(np.array([p.uid for p in parts], np.int64), sizes)
        row = np.concatenate([np.arange(s, dtype=np.int64) for s in sizes])
        times = np.concatenate([p.time_us for p in parts]).astype(np.int64, copy=False)
        if len(parts) == 1 and parts[0].seq is None:
            order = np.argsort(times, kind="stable")
        else:
            order = np.lexsort((emission_order(parts), times))
        return cls({p.uid: p for p in parts}, pid[order], row[order], times[order])

    def __len__(self) -> int:
        return len(self.pid)

    def labels(self) -> dict[str, np.ndarray | None]:
        """The label columns by name."""
        return {"phase": self.phase, "drift": self.drift, "disorder": self.disorder, "delay_ms": self.delay_ms}

    def take(self, index: np.ndarray | slice) -> RowSet:
        """The rows at `index` (positions or a slice), over the same parts (none when no row is taken)."""
        pid = self.pid[index]
        if not len(pid):
            return RowSet.empty()  # an emptied buffer must not keep its parts (and their caches) alive
        labels = {name: None if column is None else column[index] for name, column in self.labels().items()}
        return RowSet(self.parts, pid, self.row[index], self.time_us[index], labels)

    @staticmethod
    def concat(sets: Sequence[RowSet]) -> RowSet:
        """The rows of `sets` one after another; a label absent from some takes its neutral value there."""
        sets = [s for s in sets if len(s)]
        if not sets:
            return RowSet.empty()
        if len(sets) == 1:
            return sets[0]
        parts: dict[int, AnyPart] = {}
        for s in sets:
            parts.update(s.parts)
        pid = np.concatenate([s.pid for s in sets])
        if len(parts) > 2:  # forget parts no row points to any more: a part lives only while a row needs it
            live = np.unique(pid)
            if len(live) < len(parts):
                parts = {uid: parts[uid] for uid in live.tolist()}
        labels = {name: _concat_label(name, sets) for name in ("phase", "drift", "disorder", "delay_ms")}
        row, times = np.concatenate([s.row for s in sets]), np.concatenate([s.time_us for s in sets])
        return RowSet(parts, pid, row, times, labels)

    def compacted(self) -> RowSet:
        """The same rows over new parts holding only them: what a generator keeps for later releases nothing else."""
        if not len(self):
            return self
        parts: dict[int, AnyPart] = {}
        row = np.empty(len(self), np.int64)
        pid = np.empty(len(self), np.int64)
        for part, at in self.groups():
            small = part.subset(self.row[at])
            parts[small.uid] = small
            pid[at], row[at] = small.uid, np.arange(len(at), dtype=np.int64)
        return RowSet(parts, pid, row, self.time_us, self.labels())

    def merged(self, other: RowSet) -> RowSet:
        """These rows and `other`'s in time order, stable: on equal times this set's rows come first."""
        if not len(other):
            return self
        if not len(self):
            return other
        both = RowSet.concat([self, other])
        return both.take(np.argsort(both.time_us, kind="stable"))

    def groups(self) -> Iterable[tuple[AnyPart, np.ndarray]]:
        """Each part with the positions (into this set) of its rows, in position order."""
        if not len(self):
            return
        first = int(self.pid[0])
        if len(self.parts) == 1 or not (self.pid != first).any():
            yield self.parts[first], np.arange(len(self), dtype=np.int64)
            return
        order = np.argsort(self.pid, kind="stable")
        uids, starts = np.unique(self.pid[order], return_index=True)
        for uid, at in zip(uids.tolist(), np.split(order, starts[1:])):
            yield self.parts[uid], at

    def events(self) -> list[Event]:
        """The rows as Events, in order, their truth labels set from the label columns."""
        out: list[Any] = [None] * len(self)
        for part, at in self.groups():
            every = part.all_events()
            for i, row in zip(at.tolist(), self.row[at].tolist()):
                out[i] = every[row]
        if self.phase is None and self.disorder is None:
            return out
        return _labelled(out, self)


def _concat_label(name: str, sets: Sequence[RowSet]) -> np.ndarray | None:
    columns = [getattr(s, name) for s in sets]
    if all(c is None for c in columns):
        return None
    neutral = {"phase": None, "drift": 0.0, "disorder": 0, "delay_ms": 0}[name]
    filled = [c if c is not None else np.full(len(s), neutral, dtype=_DTYPES[name]) for c, s in zip(columns, sets)]
    return np.concatenate(filled)


_DTYPES = {"phase": object, "drift": np.float64, "disorder": np.int8, "delay_ms": np.int64}


def _labelled(events: list[Event], rows: RowSet) -> list[Event]:
    """`events` with truth phase, drift progress, disorder and delay from `rows`' label columns (copy on change)."""
    n = len(events)
    phases = rows.phase.tolist() if rows.phase is not None else [None] * n
    drifts = rows.drift.tolist() if rows.drift is not None else [None] * n
    disorders = rows.disorder.tolist() if rows.disorder is not None else [0] * n
    delays = rows.delay_ms.tolist() if rows.delay_ms is not None else [0] * n
    out = []
    for event, phase, drift, code, delay in zip(events, phases, drifts, disorders, delays):
        truth = event.value.get("truth")
        if truth is None:
            out.append(event)
            continue
        change: dict[str, Any] = {}
        if phase is not None and (truth["phase"] != phase or truth["drift_progress"] != drift):
            change.update(phase=phase, drift_progress=drift)
        if code:
            change.update(disorder=DISORDERS[code], delay_ms=delay)
        out.append(event._replace(value={**event.value, "truth": {**truth, **change}}) if change else event)
    return out
