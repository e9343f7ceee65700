"""The stdout sink: JSON lines on standard output, for piping into jq and friends."""

from __future__ import annotations

import contextlib
import sys
from typing import BinaryIO

from producer.sinks.base import DeliveryListener, Record, Sink, TopicInfo


class StdoutSink(Sink):
    """Writes each record's value as one line; a write that reaches stdout counts as delivered."""

    name = "stdout"

    def __init__(self, listener: DeliveryListener, stream: BinaryIO | None = None) -> None:
        super().__init__(listener)
        self.stream = stream or sys.stdout.buffer

    def open(self, topics: list[TopicInfo]) -> None:
        """Nothing to prepare."""

    def write(self, records: list[Record]) -> None:
        """Write a batch of lines and report it delivered, per topic."""
        counts: dict[str, list[int]] = {}
        for record in records:
            entry = counts.setdefault(record.topic, [0, 0])
            entry[0] += 1
            entry[1] += len(record.value)
        try:
            self.stream.write(b"\n".join(r.value for r in records) + b"\n")
        except BrokenPipeError:
            for topic, (count, size) in counts.items():
                self.listener.on_failed(topic, count, size, "broken pipe")
            raise
        for topic, (count, size) in counts.items():
            self.listener.on_delivered(topic, count, size)

    def flush(self, timeout: float) -> int:
        """Flush standard output."""
        with contextlib.suppress(BrokenPipeError):
            self.stream.flush()
        return 0

    def close(self) -> None:
        """Leave stdout open for the summary."""
        self.flush(0)
