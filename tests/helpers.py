"""Test helpers: reading topics back from a real broker, and telling which stream drew an event."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition


def consume_all(
    bootstrap_servers: str, topic: str, timeout: float = 30.0, extra_config: dict[str, Any] | None = None
) -> list[Message]:
    """Read every message of ``topic`` from all partitions, at least up to the current high watermarks."""
    # assign() rather than subscribe(): no group join, which takes ~20 s on Tansu
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"datagen-test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **(extra_config or {}),
            # EOF events carry the fetch position; see the Tansu note below
            "enable.partition.eof": True,
        }
    )
    deadline = time.monotonic() + timeout
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        topic_metadata = metadata.topics[topic]
        if topic_metadata.error is not None:
            raise KafkaException(topic_metadata.error)
        targets: dict[int, int] = {}
        for partition in sorted(topic_metadata.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic())
            )
            if high > low:
                targets[partition] = high
        # Tansu 0.6 answers ListOffsets(latest) with "base offset of the last batch + 1", which can
        # lie below the real end; so a partition is done only once a fetch reports end-of-partition
        # at or past that watermark (fetch responses carry the true high watermark, as in Kafka).
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in targets])
        pending = set(targets)
        messages: list[Message] = []
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"consume_all({topic!r}) timed out after {timeout}s: got "
                    f"{len(messages)} messages, partitions not at end: {sorted(pending)}"
                )
            for message in consumer.consume(num_messages=1000, timeout=min(0.5, remaining)):
                error = message.error()
                partition, offset = message.partition(), message.offset()
                if error is None:
                    messages.append(message)
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                elif partition in pending and offset is not None and offset >= targets[partition]:
                    pending.discard(partition)
        return messages
    finally:
        consumer.close()


def track_origin(source: Any) -> dict[str, str]:
    """Event id -> the stream whose partition drew it (companions on other topics included), filled as `source` draws.

    `source` is an EventSource; each of its partitions' `next_block` is wrapped to record what it drew.
    """
    origin: dict[str, str] = {}
    for partition in source.sources:

        def tracked(partition: Any = partition, block: Any = partition.next_block) -> Any:
            out = block()
            for event in out.events() if out is not None else ():
                origin[event.value["event_id"]] = partition.stream
            return out

        partition.next_block = tracked
    return origin


def two_stream_scenario(
    name: str = "s",
    *,
    seed: int = 3,
    weight: str = "1",
    duration: str = "10s",
    rate: str = "2000",
    repeat: str = "forever",
    start: str = "2026-01-01T00:00:00Z",
    speed: str = "1",
    extra: str = "",
) -> str:
    """A small scenario of transactions and sessions in one phase, with one knob turned (values as YAML text)."""
    return (
        f'name: {name}\nseed: {seed}\nclock: {{start: "{start}", speed: {speed}}}\n'
        f"streams:\n  fintech.transactions: {{weight: {weight}}}\n  fintech.sessions: {{weight: 1}}\n"
        f"phases:\n  - {{name: p, duration: {duration}, rate: {rate}}}\nrepeat: {repeat}\n{extra}"
    )
