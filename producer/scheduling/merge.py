"""The merge of many partitions' event blocks into one sequence ordered by (merge key, partition order).

Each feed (one virtual partition of one stream) hands over blocks in key order and knows a floor:
no event it has still to hand over has a smaller key. The merge draws from the feed whose floor
holds the others back, and releases, in one sorted pass over block columns, every buffered event
that no feed can still precede: those below the smallest floor. Ties go to the earlier feed, so the
order depends only on the feeds, never on how blocks happened to be drawn.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from producer.domains.common.rows import RowSet

# new events buffered before a release pass: each pass costs a little per feed holding releasable
# events, so it runs once per this many events rather than once per block
RELEASE_EVERY = 1024

Keys = Sequence[int] | np.ndarray  # a block's merge keys (µs), one per event


class Feed(Protocol):
    """One partition's events in key order, block by block."""

    def next_block(self) -> tuple[RowSet, Keys] | None:
        """The next block's rows and their merge keys (possibly empty), or None once it has ended."""

    def floor_us(self) -> int:
        """A key below which nothing this feed has still to hand over falls."""


class Merge:
    """Feeds merged into one ordered sequence, drawn with bounded work per call."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self.feeds = feeds
        self._floors = [(feed.floor_us(), i) for i, feed in enumerate(feeds)]  # live feeds, a min-heap
        heapq.heapify(self._floors)
        self._rows: list[RowSet] = [RowSet.empty() for _ in feeds]
        self._keys: list[np.ndarray] = [np.empty(0, dtype=np.int64) for _ in feeds]
        self._heads: list[tuple[int, int]] = []  # (first buffered key, feed) of non-empty buffers, a min-heap
        self._buffered = 0
        self._standing = 0  # buffered after the last release: still held back by some floor
        self._ready: list[RowSet] = []  # released rows, in order, not yet taken
        self._ready_count = 0

    @property
    def exhausted(self) -> bool:
        """True once every feed has ended and every row is released (some may still be ready to take)."""
        return not self._floors and not self._buffered

    def fill(self, want: int, blocks: int, idle_blocks: int) -> None:
        """Draw until `want` events are ready, `blocks` blocks were drawn, or `idle_blocks` in a row were empty."""
        idle = 0
        while self._ready_count < want and blocks > 0 and self._floors:
            _, i = self._floors[0]
            block = self.feeds[i].next_block()
            blocks -= 1
            if block is None:
                heapq.heappop(self._floors)
            else:
                rows, keys = block
                if len(rows):
                    self._buffer(i, rows, keys)
                idle = 0 if len(rows) else idle + 1
                heapq.heapreplace(self._floors, (self.feeds[i].floor_us(), i))
            if not self._floors or self._buffered - self._standing >= max(want - self._ready_count, RELEASE_EVERY):
                self._release()
            if idle >= idle_blocks:
                break
        if self._ready_count < want and self._buffered > self._standing:
            self._release()

    @property
    def ready_count(self) -> int:
        """Rows released and not yet taken."""
        return self._ready_count

    def take(self, n: int) -> RowSet:
        """Up to `n` released rows, in order."""
        ready = RowSet.concat(self._ready)
        if len(ready) <= n:
            self._ready, self._ready_count = [], 0
            return ready
        self._ready = [ready.take(slice(n, None))]
        self._ready_count -= n
        return ready.take(slice(0, n))

    def give_back(self, rows: RowSet) -> None:
        """Put rows just taken back in front of the ready ones."""
        self._ready.insert(0, rows)
        self._ready_count += len(rows)

    def _buffer(self, i: int, rows: RowSet, keys: Keys) -> None:
        column = np.asarray(keys, dtype=np.int64)
        if len(self._rows[i]):
            self._rows[i] = RowSet.concat([self._rows[i], rows])
            self._keys[i] = np.concatenate((self._keys[i], column))
        else:
            self._rows[i], self._keys[i] = rows, column
            heapq.heappush(self._heads, (int(column[0]), i))
        self._buffered += len(rows)

    def _release(self) -> None:
        """Move every buffered row below the smallest live floor to the ready rows, in (key, feed) order."""
        bound = self._floors[0] if self._floors else None
        parts: list[tuple[int, RowSet, np.ndarray]] = []
        heads = self._heads
        while heads and (bound is None or heads[0] < bound):
            _, i = heapq.heappop(heads)
            rows, keys = self._rows[i], self._keys[i]
            if bound is None:
                cut = len(rows)
            else:  # a tie with the bounding feed's floor goes first only from an earlier feed
                cut = int(np.searchsorted(keys, bound[0], side="right" if i < bound[1] else "left"))
            parts.append((i, rows.take(slice(0, cut)), keys[:cut]))
            self._rows[i], self._keys[i] = rows.take(slice(cut, None)), keys[cut:]
            if cut < len(rows):
                heapq.heappush(heads, (int(keys[cut]), i))
        if parts:
            self._emit(parts)
        self._standing = self._buffered

    def _emit(self, parts: list[tuple[int, RowSet, np.ndarray]]) -> None:
        if len(parts) == 1:
            rows = parts[0][1]
        else:
            parts.sort(key=lambda part: part[0])
            both = RowSet.concat([part[1] for part in parts])
            rows = both.take(np.argsort(np.concatenate([part[2] for part in parts]), kind="stable"))
        self._ready.append(rows)
        self._ready_count += len(rows)
        self._buffered -= len(rows)
