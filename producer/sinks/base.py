"""The sink contract: sinks take encoded records and know nothing about domains."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Record(NamedTuple):
    """One encoded message: where it goes, its key, value bytes and event-time timestamp."""

    topic: str
    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What a sink may need to know about a topic before writing: its schema text for files."""

    name: str
    schema_json: str | None = None  # Avro schema (for Avro container files)


class DeliveryListener(Protocol):
    """Receives delivery outcomes, aggregated per topic, as the sink learns them."""

    def on_delivered(self, topic: str, count: int, nbytes: int) -> None:
        """`count` records of `topic` (`nbytes` value bytes) were delivered."""

    def on_failed(self, topic: str, count: int, nbytes: int, error: str) -> None:
        """`count` records of `topic` failed for good with `error`."""

    def on_latencies(self, seconds: list[float]) -> None:
        """Produce-to-acknowledgement latencies of delivered records."""


class Sink(ABC):
    """open() prepares, write() hands records over, poll() serves callbacks, flush() waits, close() ends."""

    name: str = "sink"
    tick: float | None = None  # the scheduler's tick this sink wants (seconds), else the default

    def __init__(self, listener: DeliveryListener) -> None:
        self.listener = listener

    @abstractmethod
    def open(self, topics: list[TopicInfo]) -> None:
        """Prepare every topic the run will write (create, connect, open files)."""

    @abstractmethod
    def write(self, records: list[Record]) -> None:
        """Hand a batch over; blocks (never drops) while the sink's buffer is full."""

    def poll(self) -> None:  # noqa: B027 - an optional hook: sinks without delivery reports keep it empty
        """Serve pending delivery reports without blocking."""

    @abstractmethod
    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` s for outstanding records; returns how many are still outstanding."""

    @abstractmethod
    def close(self) -> None:
        """Release everything the sink holds."""

    def queue_depth(self) -> int:
        """Records handed over but not yet acknowledged."""
        return 0

    @property
    def ready(self) -> bool:
        """True while the sink can take records."""
        return True
