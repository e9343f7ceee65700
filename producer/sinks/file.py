"""The file sink: DIR/<topic>.jsonl (one JSON object a line) or DIR/<topic>.avro (Avro container file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

from producer.errors import UsageError
from producer.sinks.avro_container import ContainerWriter
from producer.sinks.base import DeliveryListener, Record, Sink, TopicInfo


class FileSink(Sink):
    """Writes each topic to its own file; a record counts as delivered once its bytes reach the OS.

    Python's buffers die with a killed process, the OS's do not: so each batch is flushed before it
    is counted, and an Avro record counts when its block is written (the last block at flush()).
    """

    name = "file"

    def __init__(self, listener: DeliveryListener, out_dir: str | Path, fmt: str) -> None:
        super().__init__(listener)
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self._files: dict[str, BinaryIO] = {}
        self._containers: dict[str, ContainerWriter] = {}

    def open(self, topics: list[TopicInfo]) -> None:
        """Create the folder and one file per topic (truncating earlier runs' files)."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for topic in topics:
                path = self.out_dir / f"{topic.name}.{'avro' if self.fmt == 'avro' else 'jsonl'}"
                handle = open(path, "wb")  # noqa: SIM115 - closed in close()
                self._files[topic.name] = handle
                if self.fmt == "avro":
                    assert topic.schema_json is not None
                    self._containers[topic.name] = ContainerWriter(handle, json.loads(topic.schema_json))
        except OSError as exc:
            raise UsageError(f"--out {self.out_dir}: cannot write there ({exc.strerror})") from exc

    def write(self, records: list[Record]) -> None:
        """Append a batch, grouped per topic, and report it delivered."""
        grouped: dict[str, list[bytes]] = {}
        for record in records:
            grouped.setdefault(record.topic, []).append(record.value)
        for topic, values in grouped.items():
            handle = self._files[topic]
            if self.fmt == "avro":
                count, nbytes = self._containers[topic].write(values)
            else:
                handle.write(b"\n".join(values) + b"\n")
                count, nbytes = len(values), sum(map(len, values))
            if count:
                handle.flush()
                self.listener.on_delivered(topic, count, nbytes)

    def flush(self, timeout: float) -> int:
        """Write the last Avro blocks and hand every buffer to the OS; nothing stays outstanding."""
        for topic, container in self._containers.items():
            count, nbytes = container.flush()
            if count:
                self._files[topic].flush()
                self.listener.on_delivered(topic, count, nbytes)
        for handle in self._files.values():
            handle.flush()
        return 0

    def queue_depth(self) -> int:
        """Avro records waiting for their block."""
        return sum(container.buffered for container in self._containers.values())

    def close(self) -> None:
        """Write last blocks, flush, fsync and close every file."""
        self.flush(0)
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._files.clear()
        self._containers.clear()
