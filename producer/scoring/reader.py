"""Reading the alarms and ground-truth topics from the beginning, knowing where each ended when reading began."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from producer.errors import BrokerUnavailable, ConfigError, UsageError
from producer.redact import safe_url
from producer.tail import _decoder  # one decoder for tail and score: registry-framed Avro, else JSON

log = logging.getLogger(__name__)
BATCH = 1000


class TopicReader:
    """Assigns every partition of its topics from the beginning; at_end() once each reached its starting end offset."""

    def __init__(
        self,
        bootstrap: str,
        registry_url: str | None,
        topics: list[str],
        kafka_conf: dict[str, str],
        registry_conf: dict,
    ) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.kafka_conf = kafka_conf
        self.decoders: dict[str, Callable[[bytes], Any]] = {
            topic: _decoder(topic, registry_url, registry_conf) for topic in topics
        }
        self.ends: dict[tuple[str, int], int] = {}  # (topic, partition) -> end offset at start, while not reached
        self.consumer: Any = None

    def open(self) -> None:
        """Connect and assign; UsageError naming a missing topic, BrokerUnavailable if the broker does not answer."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"datagen-score-{uuid.uuid4().hex[:12]}",  # never joined (assign), never committed
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                **self.kafka_conf,
            }
        )
        assigned = []
        for topic in self.topics:
            try:
                metadata = self.consumer.list_topics(topic, timeout=10)
            except KafkaException as exc:
                raise BrokerUnavailable(f"broker {safe_url(self.bootstrap)} unreachable: {exc.args[0].str()}") from exc
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise UsageError(
                    f"topic {topic!r}: expected an existing topic, found none on {safe_url(self.bootstrap)}"
                )
            for partition in sorted(found.partitions):
                low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                if high > low:
                    self.ends[topic, partition] = high
                assigned.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        self.consumer.assign(assigned)
        log.debug("score reading topics=%s partitions_to_read=%d", ",".join(self.topics), len(self.ends))

    def at_end(self) -> bool:
        """Whether every partition was read up to where it ended when reading began."""
        return not self.ends

    def poll(self, timeout: float) -> list[tuple[str, str, Any]]:
        """The next decoded records as (topic, where, value); ConfigError naming a record that cannot be decoded."""
        from confluent_kafka import KafkaError, KafkaException

        out = []
        for message in self.consumer.consume(BATCH, timeout):
            error = message.error()
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                if offset is not None and offset >= self.ends.get((topic, partition), 0):
                    self.ends.pop((topic, partition), None)
                continue
            if offset + 1 >= self.ends.get((topic, partition), 0):
                self.ends.pop((topic, partition), None)
            where = f"{topic}[{partition}]@{offset}"
            out.append((topic, where, self._decode(topic, where, message.value())))
        return out

    def _decode(self, topic: str, where: str, value: bytes | None) -> Any:
        if not value:
            raise ConfigError(where, "value", "a JSON or registry-framed Avro record", value)
        try:
            return self.decoders[topic](value)
        except UsageError:
            raise
        except Exception as exc:  # json's ValueError, the registry's SerializationError: the record is unreadable
            raise ConfigError(where, "value", f"a JSON or registry-framed Avro record ({exc})", value[:40]) from exc

    def close(self) -> None:
        """Leave (nothing is committed)."""
        if self.consumer is not None:
            self.consumer.close()
