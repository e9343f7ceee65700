"""`datagen tail`: the last N events of a topic, decoded through the registry, as JSON lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from producer.client_conf import check_client_conf, kafka_part, registry_part
from producer.encoding.jsonl import to_json
from producer.errors import BrokerUnavailable, UsageError
from producer.redact import safe_url


def _connection(bootstrap: str | None, registry_url: str | None) -> tuple[str, str | None]:
    if bootstrap is not None:
        return bootstrap, registry_url
    from producer.embedded import stack

    info = stack.status()
    if info is None:
        raise UsageError(
            "--bootstrap-servers: expected a broker (or KAFKA_BOOTSTRAP_SERVERS), found none, "
            "and no embedded broker is running (start one with `datagen run` or `datagen embedded start`)"
        )
    return info.bootstrap_servers, registry_url or info.registry_url


def tail(
    topic: str,
    n: int,
    bootstrap: str | None,
    registry_url: str | None,
    timeout: float = 10.0,
    conf: dict[str, str] | None = None,
) -> int:
    """Print the last `n` events of `topic` (spread over partitions, in timestamp order)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    conf = conf or {}
    check_client_conf(conf, registry_url, consumer=True)  # a bad -X fails before any connection
    bootstrap, registry_url = _connection(bootstrap, registry_url)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "datagen-tail",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            **kafka_part(conf),
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise BrokerUnavailable(f"broker {safe_url(bootstrap)} unreachable: {exc.args[0].str()}") from exc
        partitions = metadata.topics.get(topic)
        if partitions is None or partitions.error is not None or not partitions.partitions:
            raise UsageError(f"topic {topic!r}: expected an existing topic, found none on {safe_url(bootstrap)}")
        assignment = []
        for p in sorted(partitions.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            # some brokers (Tansu 0.6) under-report the high watermark, so read on to end-of-partition
            assignment.append(TopicPartition(topic, p, max(low, high - n)))
        messages = _read_to_end(consumer, assignment, timeout)
    finally:
        consumer.close()
    messages.sort(key=lambda m: (m.timestamp()[1], m.partition(), m.offset()))
    decode = _decoder(topic, registry_url, registry_part(conf))
    for message in messages[-n:]:
        sys.stdout.write(to_json(decode(message.value())) + "\n")
    sys.stdout.flush()
    return 0


def _read_to_end(consumer: Any, assignment: list[Any], timeout: float) -> list[Any]:
    """Every message from the assigned offsets until each partition reports its end."""
    from confluent_kafka import KafkaError

    consumer.assign(assignment)
    pending = {tp.partition for tp in assignment}
    out, deadline = [], time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.5):
            error = message.error()
            if error is None:
                out.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                pending.discard(message.partition())
    return out


def _decoder(topic: str, registry_url: str | None, registry_conf: dict[str, Any]) -> Callable[[bytes], Any]:
    """Decode Confluent-framed Avro through the registry; JSON values pass through."""
    import json

    deserializer = None

    def decode(value: bytes) -> dict:
        nonlocal deserializer
        if value[:1] != b"\x00":
            return json.loads(value)
        if deserializer is None:
            if registry_url is None:
                raise UsageError(
                    "--schema-registry-url: expected a registry to decode Avro (or SCHEMA_REGISTRY_URL), found none"
                )
            from confluent_kafka.schema_registry import SchemaRegistryClient
            from confluent_kafka.schema_registry.avro import AvroDeserializer
            from confluent_kafka.serialization import MessageField, SerializationContext

            avro = AvroDeserializer(SchemaRegistryClient({"url": registry_url, **registry_conf}))
            ctx = SerializationContext(topic, MessageField.VALUE)
            deserializer = lambda raw: avro(raw, ctx)  # noqa: E731
        return deserializer(value)

    return decode
