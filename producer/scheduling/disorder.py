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

import numpy as np

from producer.domains.common.base import Event
from producer.scenario.model import Disorder

CHUNK = 1024
_KEY = zlib.crc32(b"disorder")


def relabel(event: Event, disorder: str, delay_ms: int) -> Event:
    """A copy of `event` whose truth records how it was disordered."""
    value = dict(event.value)
    value["truth"] = {**value["truth"], "disorder": disorder, "delay_ms": delay_ms}
    return event._replace(value=value)


class DisorderStage:
    """Turns one partition's event-time-ordered blocks into blocks with labelled late, out-of-order and duplicate sends.

    Each output event has a merge key: its own event time, or for a held one the instant its delay
    ends (when the partition's time has passed it). Keys never decrease, so partitions merge by key.
    """

    def __init__(self, spec: Disorder, seed: int, *key: int) -> None:
        self.spec = spec
        self.seed = seed
        self.key = key  # (stream, partition): each partition draws its own, independent of the others
        self._held: list[tuple[int, int, Event]] = []
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

    def apply(self, events: list[Event]) -> tuple[list[Event], list[int]]:
        """The disordered block and each output event's merge key."""
        spec, held = self.spec, self._held
        late_cut = spec.late_share
        shuffle_cut = late_cut + spec.out_of_order_share
        out: list[Event] = []
        keys: list[int] = []
        for event in events:
            self._index += 1
            slot = self._index % CHUNK
            if slot == 0 and self._index:
                self._draws = self._chunk(self._index // CHUNK)
            time_us = event.time_us
            while held and held[0][0] <= time_us:
                due, _, late = heapq.heappop(held)
                out.append(late)
                keys.append(due)
            row = self._draws[slot]
            if row.kind < shuffle_cut:
                seconds = row.late if row.kind < late_cut else row.shuffle
                label = "late" if row.kind < late_cut else "out_of_order"
                delay_us = max(int(seconds * 1_000_000), 1)
                heapq.heappush(held, (time_us + delay_us, self._index, relabel(event, label, delay_us // 1000)))
            else:
                out.append(event)
                keys.append(time_us)
            if row.duplicate:
                out.append(relabel(event, "duplicate", 0))
                keys.append(time_us)
        return out, keys

    def flush(self) -> tuple[list[Event], list[int]]:
        """Every held event, in release order (the partition has ended)."""
        out: list[Event] = []
        keys: list[int] = []
        while self._held:
            due, _, event = heapq.heappop(self._held)
            out.append(event)
            keys.append(due)
        return out, keys
