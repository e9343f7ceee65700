"""The block merge: (key, feed) order whatever the block sizes, bounded work per call, nothing lost."""

from __future__ import annotations

import numpy as np
import pytest

from producer.domains.common.base import Event
from producer.domains.common.rows import RowSet, as_parts
from producer.scheduling.merge import Merge


class ListFeed:
    """A feed over fixed keys in fixed-size blocks; its floor is the last key handed over."""

    def __init__(self, name: str, keys: list[int], block: int) -> None:
        self.name, self.keys, self.block, self.at = name, keys, block, 0

    def next_block(self):
        if self.at >= len(self.keys):
            return None
        keys = self.keys[self.at : self.at + self.block]
        self.at += len(keys)
        events = [Event(self.name, "k", k, {"i": self.at}) for k in keys]
        return RowSet.of_parts(as_parts(events)), keys

    def floor_us(self) -> int:
        return self.keys[self.at - 1] if self.at else (self.keys[0] if self.keys else 0)


def drain(merge: Merge) -> list[Event]:
    out: list[Event] = []
    while not merge.exhausted or merge.ready_count:
        merge.fill(500, 1000, 64)
        out += merge.take(merge.ready_count).events()
    return out


def feeds(seed: int, blocks: list[int]) -> list[ListFeed]:
    rng = np.random.default_rng(seed)
    return [ListFeed(f"f{i}", np.sort(rng.integers(0, 5_000, 2_000)).tolist(), block) for i, block in enumerate(blocks)]


@pytest.mark.parametrize("blocks", [[1, 1, 1], [7, 300, 64], [2000, 5, 333]])
def test_order_is_key_then_feed_whatever_the_block_sizes(blocks):
    merged = drain(Merge(feeds(1, blocks)))
    expected = sorted(
        ((k, i) for i, feed in enumerate(feeds(1, blocks)) for k in feed.keys),
    )
    assert [(e.time_us, int(e.stream[1:])) for e in merged] == expected  # ties: the earlier feed first


def test_fill_does_bounded_work_and_resumes():
    merge = Merge(feeds(2, [10, 10, 10]))
    merge.fill(10**9, 5, 64)  # asks for everything, may draw only five blocks
    assert sum(f.at for f in merge.feeds) <= 50
    assert len(drain(merge)) == 6_000  # the rest still comes, each event once


def test_empty_and_ending_feeds():
    merge = Merge([ListFeed("f0", [], 5), ListFeed("f1", [3, 4], 5)])
    assert [e.time_us for e in drain(merge)] == [3, 4] and merge.exhausted
