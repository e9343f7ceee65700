"""Disorder: late, out-of-order and duplicate sends, labelled, for testing watermarks and dedup.

A late or out-of-order event is held back and released once the stream's event time has moved
past its own timestamp plus a drawn delay, so it arrives after events that happened later. A
duplicate is the same event (same event_id) sent twice. Each affected copy says so in
truth.disorder and truth.delay_ms. Draws come from fixed chunks of the merged sequence, each
seeded from (seed, chunk), so the result depends only on the scenario and the seed.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterator

import numpy as np

from producer.domains.base import Event
from producer.scenario.model import Disorder

CHUNK = 1024
_KEY = zlib.crc32(b"disorder")


def relabel(event: Event, disorder: str, delay_ms: int) -> Event:
    """A copy of `event` whose truth records how it was disordered."""
    value = dict(event.value)
    value["truth"] = {**value["truth"], "disorder": disorder, "delay_ms": delay_ms}
    return event._replace(value=value)


class DisorderStage:
    """Turns an event-time-ordered sequence into one with labelled late, out-of-order and duplicate sends."""

    def __init__(self, spec: Disorder, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.held = 0

    def _draws(self, chunk: int) -> np.ndarray:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(_KEY, chunk)))
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

    def apply(self, events: Iterator[Event | None]) -> Iterator[Event | None]:
        """The disordered sequence (held events are flushed, in release order, when the input ends).

        A None in the input (the merge pausing after idle work) passes through and counts for nothing.
        """
        spec = self.spec
        late_cut = spec.late_share
        shuffle_cut = late_cut + spec.out_of_order_share
        held: list[tuple[int, int, Event]] = []
        draws = self._draws(0)
        index = -1
        for event in events:
            if event is None:
                yield None
                continue
            index += 1
            slot = index % CHUNK
            if slot == 0 and index:
                draws = self._draws(index // CHUNK)
            while held and held[0][0] <= event.time_us:
                yield heapq.heappop(held)[2]
            row = draws[slot]
            if row.kind < shuffle_cut:
                seconds = row.late if row.kind < late_cut else row.shuffle
                label = "late" if row.kind < late_cut else "out_of_order"
                delay_us = max(int(seconds * 1_000_000), 1)
                heapq.heappush(held, (event.time_us + delay_us, index, relabel(event, label, delay_us // 1000)))
            else:
                yield event
            if row.duplicate:
                yield relabel(event, "duplicate", 0)
            self.held = len(held)
        while held:
            yield heapq.heappop(held)[2]
