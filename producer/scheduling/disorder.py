"""Disorder: late, out-of-order and duplicate sends, labelled, for testing watermarks and dedup.

A late or out-of-order event is held back and released once the stream's event time has moved
past its own timestamp plus a drawn delay, so it arrives after events that happened later. A
duplicate is the same event (same event_id) sent twice. Each affected copy says so in
truth.disorder and truth.delay_ms. Disorder acts per virtual partition: a held event is released
once its partition's event time passes its release instant, and draws come from fixed chunks of the
partition's sequence, each seeded from (seed, stream, partition, chunk). So the result depends only
on the scenario and the seed, and a shard disorders exactly what the unsharded run does.
"""

from __future__ import annotations

import heapq
import zlib
from typing import Any

import numpy as np

from producer.domains.common.rows import DISORDERS, AnyPart, RowSet
from producer.scenario.model import Disorder

CHUNK = 1024
_KEY = zlib.crc32(b"disorder")


class DisorderStage:
    """Turns one partition's event-time-ordered rows into rows with labelled late, out-of-order and duplicate sends.

    Each output event has a merge key: its own event time, or for a held one the instant its delay
    ends (when the partition's time has passed it). Keys never decrease, so partitions merge by key.
    """

    def __init__(self, spec: Disorder, seed: int, *key: int) -> None:
        self.spec = spec
        self.seed = seed
        self.key = key  # (stream, partition): each partition draws its own, independent of the others
        self._held: list[tuple[int, int, _Row]] = []  # (release instant, sequence, row)
        self._index = -1
        self._draws = self._chunk(0)

    @property
    def held(self) -> int:
        """Events held back and not yet released."""
        return len(self._held)

    def floor_us(self) -> int | None:
        """The earliest release instant of a held event (None when nothing is held)."""
        return self._held[0][0] if self._held else None

    def _chunk(self, chunk: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_KEY, *self.key, chunk)))
        spec = self.spec
        kind = rng.random(CHUNK)
        if spec.lateness.distribution == "exponential":
            late = np.minimum(rng.exponential(spec.lateness.mean, CHUNK), spec.lateness.max)
        else:
            late = rng.uniform(0.0, spec.lateness.max, CHUNK)
        shuffle = rng.uniform(0.0, spec.out_of_order_max, CHUNK)
        duplicate = rng.random(CHUNK) < spec.duplicate_share
        columns = [kind, late, shuffle, duplicate]
        names = ["kind", "late", "shuffle", "duplicate"]
        return np.rec.fromarrays(columns, formats=[c.dtype for c in columns], names=names)

    def apply(self, rows: RowSet) -> tuple[RowSet, np.ndarray]:
        """The disordered block and each output row's merge key."""
        spec, held = self.spec, self._held
        late_cut = spec.late_share
        shuffle_cut = late_cut + spec.out_of_order_share
        out: list[_Row] = []
        keys: list[int] = []
        phases = rows.phase.tolist() if rows.phase is not None else [None] * len(rows)
        drifts = rows.drift.tolist() if rows.drift is not None else [0.0] * len(rows)
        parts = rows.parts
        for uid, row, time_us, phase, drift in zip(
            rows.pid.tolist(), rows.row.tolist(), rows.time_us.tolist(), phases, drifts
        ):
            self._index += 1
            slot = self._index % CHUNK
            if slot == 0 and self._index:
                self._draws = self._chunk(self._index // CHUNK)
            while held and held[0][0] <= time_us:
                due, _, late = heapq.heappop(held)
                out.append(late)
                keys.append(due)
            draw = self._draws[slot]
            at = (parts[uid], row, time_us, phase, drift)
            if draw.kind < shuffle_cut:
                seconds = draw.late if draw.kind < late_cut else draw.shuffle
                code = LATE if draw.kind < late_cut else OUT_OF_ORDER
                delay_us = max(int(seconds * 1_000_000), 1)
                heapq.heappush(held, (time_us + delay_us, self._index, (*at, code, delay_us // 1000)))
            else:
                out.append((*at, 0, 0))
                keys.append(time_us)
            if draw.duplicate:
                out.append((*at, DUPLICATE, 0))
                keys.append(time_us)
        return _rowset(out), np.array(keys, dtype=np.int64)

    def flush(self) -> tuple[RowSet, np.ndarray]:
        """Every held row, in release order (the partition has ended)."""
        out: list[_Row] = []
        keys: list[int] = []
        while self._held:
            due, _, row = heapq.heappop(self._held)
            out.append(row)
            keys.append(due)
        return _rowset(out), np.array(keys, dtype=np.int64)


# one output row: its part, row, event time, phase, drift progress, disorder code and delay (ms)
_Row = tuple[AnyPart, int, int, Any, float, int, int]
LATE, OUT_OF_ORDER, DUPLICATE = (DISORDERS.index(name) for name in ("late", "out_of_order", "duplicate"))


def _rowset(out: list[_Row]) -> RowSet:
    """Output rows as a RowSet with their labels."""
    if not out:
        return RowSet.empty()
    parts, rows, times, phases, drifts, codes, delays = zip(*out)
    labels = {
        "phase": np.array(phases, dtype=object),
        "drift": np.array(drifts, dtype=np.float64),
        "disorder": np.array(codes, dtype=np.int8),
        "delay_ms": np.array(delays, dtype=np.int64),
    }
    pid = np.fromiter((p.uid for p in parts), np.int64, len(parts))
    by_uid = {p.uid: p for p in parts}
    return RowSet(by_uid, pid, np.array(rows, dtype=np.int64), np.array(times, dtype=np.int64), labels)
