"""Sharding: instance i of n owns a stable slice of the entity key space."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """Instance `index` of `count`: keeps the events whose key hashes to its slice of the key space."""

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

    def owns(self, key: str) -> bool:
        """True when `key` belongs to this shard (crc32, stable across processes and machines)."""
        return zlib.crc32(key.encode()) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
