"""The answer key for stream processors: each `oracle:` window's exact result, computed on the send order.

Semantics are those of Quix Streams 3.28.1's tumbling windows with `.final()` and the default
closing strategy "key" (docs/oracle.md has the details and the source lines they come from):
a record at `t` ms falls in [t - t % W, that + W); each group's watermark is the largest event
time of its records accepted so far in send order; a record whose window ends at or before
watermark - grace is late and dropped (it moves nothing); after each accepted record, every window
of its group that ends at or before watermark - grace closes and is emitted. At the end of a run
the windows still open are emitted too, marked closed_by=end.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from producer.domains.common.event import Event
from producer.domains.common.rows import DISORDERS, RowSet
from producer.scenario.model import OracleSpec

EXPECTED = "expected"  # the topic's name after the prefix
EXPECTED_SCHEMA = "common/expected.avsc"
DUPLICATE = DISORDERS.index("duplicate")
Number = int | float | Decimal


class _Group:
    """One group's state: its watermark, its open windows (start -> [count, sum]) and its late records."""

    __slots__ = ("late", "watermark", "windows")

    def __init__(self) -> None:
        self.watermark: int | None = None
        self.windows: dict[int, list[Any]] = {}
        self.late = 0


class WindowOracle:
    """One `oracle:` block: tumbling windows per group, fed records in send order."""

    def __init__(self, spec: OracleSpec, topic: str) -> None:
        self.spec, self.topic = spec, topic
        self.width, self.grace = spec.window_ms, spec.grace_ms
        self.path = spec.sum.split(".") if spec.sum else None
        self.count_once = spec.duplicates == "count_once"
        self.groups: dict[str, _Group] = {}
        self.seen = self.late = self.ignored = self.closed = 0  # records, late, duplicates ignored, windows

    def add(self, group: str, time_ms: int, value: Number | None, duplicate: bool = False) -> list[dict[str, Any]]:
        """Take one record; the results of the windows it closes (in window order)."""
        self.seen += 1
        if duplicate and self.count_once:
            self.ignored += 1  # as if never sent: it moves no watermark either
            return []
        state = self.groups.get(group)
        if state is None:
            state = self.groups[group] = _Group()
        latest = time_ms if state.watermark is None else max(time_ms, state.watermark)
        limit = latest - self.grace  # windows ending at or before it are closed
        start = time_ms - time_ms % self.width
        if start + self.width <= limit:
            state.late += 1
            self.late += 1
            return []
        window = state.windows.get(start)
        if window is None:
            window = state.windows[start] = [0, 0]
        window[0] += 1
        if value is not None:
            window[1] = window[1] + value  # in send order: a processor adding in its order gets the same bits
        state.watermark = latest
        due = sorted(s for s in state.windows if s + self.width <= limit)
        return [self._result(group, state, s, "watermark") for s in due]

    def finish(self) -> list[dict[str, Any]]:
        """The windows still open at the end of the run, closed_by=end (by group, then window start)."""
        return [
            self._result(group, state, start, "end")
            for group, state in sorted(self.groups.items())
            for start in sorted(state.windows)
        ]

    def _result(self, group: str, state: _Group, start: int, closed_by: str) -> dict[str, Any]:
        count, total = state.windows.pop(start)
        self.closed += 1
        return {
            "oracle": self.spec.name,
            "topic": self.topic,
            "group_by": self.spec.group_by,
            "group": group,
            "window_start": start,
            "window_end": start + self.width,
            "count": count,
            "sum": None if self.path is None else exact_text(total),
            "watermark": state.watermark,
            "late_excluded": state.late,
            "closed_by": closed_by,
        }

    def group_of(self, event: Event) -> str:
        """The group an event belongs to: its key (the Kafka record key) or its event type."""
        return event.key if self.spec.group_by == "key" else event.value["event_type"]

    def value_of(self, event: Event) -> Number | None:
        """The summed field of an event (None when the event has none: it adds nothing, as in Quix's Sum)."""
        if self.path is None:
            return None
        value: Any = event.value
        for name in self.path:
            if isinstance(value, tuple):  # an Avro union in tuple notation: (record name, record)
                value = value[1]
            if not isinstance(value, dict):
                return None
            value = value.get(name)
        return None if isinstance(value, bool) else value


def exact_text(value: Number) -> str:
    """A sum as exact text: a Decimal as str, an int as digits, a float as its shortest round-trip repr."""
    return repr(value) if isinstance(value, float) else str(value)


class Oracles:
    """Every `oracle:` block of a scenario, fed the rows of each batch in send order."""

    def __init__(self, specs: Sequence[OracleSpec], prefix: str) -> None:
        self.oracles = [WindowOracle(spec, prefix + spec.stream) for spec in specs]
        self.topic = prefix + EXPECTED
        self._streams = {spec.stream for spec in specs}

    def observe(self, rows: RowSet) -> list[dict[str, Any]]:
        """The results of the windows this batch of rows closes, in the order they close."""
        picked: list[tuple[int, Event]] = []
        for part, at in rows.groups():
            if part.stream in self._streams:
                every = part.all_events()
                picked.extend(zip(at.tolist(), [every[r] for r in rows.row[at].tolist()]))
        if not picked:
            return []
        picked.sort(key=itemgetter(0))
        codes = rows.disorder.tolist() if rows.disorder is not None else None
        out: list[dict[str, Any]] = []
        for position, event in picked:
            duplicate = codes is not None and codes[position] == DUPLICATE
            time_ms = event.time_us // 1000
            for oracle in self.oracles:
                if oracle.spec.stream == event.stream:
                    out.extend(oracle.add(oracle.group_of(event), time_ms, oracle.value_of(event), duplicate))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """The windows still open at the end of the run."""
        return [result for oracle in self.oracles for result in oracle.finish()]
