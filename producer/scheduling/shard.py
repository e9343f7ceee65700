"""Sharding: instance i of n plays a stable subset of every stream's virtual partitions."""

from __future__ import annotations

from dataclasses import dataclass

from producer.errors import UsageError


@dataclass(frozen=True)
class Shard:
    """Instance `index` of `count`: generates the virtual partitions p with p mod count == index.

    Each partition owns its entities (and so their keys), so n shards together generate exactly
    the unsharded run's events, each generating only its own. Worker j of `--workers W` inside
    shard i/n is shard (i + j*n)/(n*W): its partitions are a subset of shard i/n's.
    """

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n` with 0 <= i < n; ValueError otherwise."""
        index, sep, count = text.partition("/")
        shard = cls(int(index), int(count)) if sep else None
        if shard is None or not 0 <= shard.index < shard.count:
            raise ValueError(text)
        return shard

    def partitions(self, total: int) -> list[int]:
        """The partitions of `total` this shard plays (empty when there are fewer than shards)."""
        return list(range(self.index, total, self.count))

    def check(self, partitions: int, processes: int = 1) -> None:
        """UsageError unless every one of this shard's `processes` has a virtual partition to play."""
        total = self.count * processes
        if total > partitions:
            what = f"--shard {self}" + (f" with --workers {processes}" if processes > 1 else "")
            raise UsageError(
                f"{what}: {total} processes, but the scenario has virtual_partitions: {partitions} per stream; "
                f"set virtual_partitions to a multiple of {total} in the scenario"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
