"""The alarm contract (docs/scoring.md): what a system under test publishes on `<prefix>alarms`.

One record per alarm: `detector`, `topic` (the monitored topic), `kind` (drift or anomaly),
`event_id` (the event the alarm refers to, or null), `event_time` (the event time it refers to) and
`score` (optional). Avro through the schema registry (schemas/common/alarm.avsc, subject
`<alarms topic>-value`) or JSON with the same field names (event_time as ISO 8601 or epoch microseconds).

`AlarmPublisher` is a helper for Python systems under test; it is not used by datagen's own run, so
it holds its own Kafka producer (sinks/kafka.py stays the only producer of datagen's events).
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from producer.errors import ConfigError

ALARMS = "alarms"  # the default topic name, after the run's prefix
ALARM_SCHEMA = "common/alarm.avsc"
KINDS = ("drift", "anomaly")
AlarmKind = Literal["drift", "anomaly"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Alarm:
    """One alarm, event time in epoch microseconds."""

    detector: str
    topic: str
    kind: str
    event_time_us: int
    event_id: str | None = None
    score: float | None = None


def time_us(value: Any, where: str, field: str) -> int:
    """Epoch microseconds of a timestamp-micros value: a datetime (Avro), ISO 8601 text or an integer (JSON)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MICRO
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return time_us(datetime.fromisoformat(value), where, field)
        except ValueError:
            pass
    raise ConfigError(where, field, "a timestamp (ISO 8601 text or epoch microseconds)", value)


_MICRO = datetime.resolution  # one microsecond: (datetime - epoch) // _MICRO is exact integer arithmetic


def parse_alarm(value: Any, where: str) -> Alarm:
    """An Alarm from a decoded record; ConfigError naming the record and field if it breaks the contract."""
    if not isinstance(value, dict):
        raise ConfigError(where, "", "an alarm record (an object)", value)
    for field in ("detector", "topic"):
        if not isinstance(value.get(field), str) or not value[field]:
            raise ConfigError(where, field, "a non-empty string", value.get(field))
    if value.get("kind") not in KINDS:
        raise ConfigError(where, "kind", "drift or anomaly", value.get("kind"))
    event_id = value.get("event_id")
    if isinstance(event_id, uuid.UUID):  # the Avro deserializer reads logicalType uuid as UUID
        event_id = str(event_id)
    if event_id is not None and not _is_uuid(event_id):
        raise ConfigError(where, "event_id", "null or a uuid string", event_id)
    if "event_time" not in value:
        raise ConfigError(where, "event_time", "a timestamp (required)", None)
    score = value.get("score")
    if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool) or math.isnan(score)):
        raise ConfigError(where, "score", "null or a number", score)
    return Alarm(
        detector=value["detector"],
        topic=value["topic"],
        kind=value["kind"],
        event_time_us=time_us(value["event_time"], where, "event_time"),
        event_id=event_id,
        score=None if score is None else float(score),
    )


def _is_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def alarm_record(alarm: Alarm) -> dict[str, Any]:
    """The alarm as an Avro record value (event_time a datetime)."""
    return {
        "detector": alarm.detector,
        "topic": alarm.topic,
        "kind": alarm.kind,
        "event_id": alarm.event_id,
        "event_time": _EPOCH + timedelta(microseconds=alarm.event_time_us),
        "score": alarm.score,
    }


def alarm_json(alarm: Alarm) -> bytes:
    """The alarm as a JSON value (event_time ISO 8601 with microseconds)."""
    record = alarm_record(alarm)
    record["event_time"] = record["event_time"].isoformat()
    return json.dumps(record, separators=(",", ":")).encode()


class AlarmPublisher:
    """Publishes alarms to the alarms topic; use as a context manager (connects on enter, flushes on exit)."""

    def __init__(
        self,
        bootstrap_servers: str,
        registry_url: str | None = None,
        topic: str = ALARMS,
        fmt: Literal["avro", "json"] = "avro",
        conf: dict[str, Any] | None = None,
    ) -> None:
        if fmt == "avro" and registry_url is None:
            raise ValueError("AlarmPublisher: Avro needs a schema registry URL (or use fmt='json')")
        self.bootstrap_servers, self.registry_url, self.topic, self.fmt = bootstrap_servers, registry_url, topic, fmt
        self.conf = conf or {}
        self._producer: Any = None
        self._encode: Any = None
        self.published = 0

    def __enter__(self) -> AlarmPublisher:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Create the topic if missing (so that a silent detector still leaves a readable, empty topic) and connect."""
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, **self.conf})
        future = admin.create_topics([NewTopic(self.topic, 1, 1)])[self.topic]
        try:
            future.result(30)
        except Exception as exc:  # KafkaException(TOPIC_ALREADY_EXISTS) is the usual case
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        self._producer = Producer({"bootstrap.servers": self.bootstrap_servers, **self.conf})
        self._encode = self._avro_encoder() if self.fmt == "avro" else alarm_json

    def _avro_encoder(self) -> Any:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        from producer.encoding.schemas import schema_text

        serializer = AvroSerializer(SchemaRegistryClient({"url": self.registry_url}), schema_text(ALARM_SCHEMA))
        ctx = SerializationContext(self.topic, MessageField.VALUE)
        return lambda alarm: serializer(alarm_record(alarm), ctx)

    def publish(
        self,
        detector: str,
        topic: str,
        kind: AlarmKind,
        event_time: datetime | int,
        event_id: str | None = None,
        score: float | None = None,
    ) -> Alarm:
        """Send one alarm (event_time a datetime or epoch microseconds); returns what was sent."""
        if self._producer is None:
            self.open()
        stamp = time_us(event_time, "AlarmPublisher.publish", "event_time")
        alarm = parse_alarm(
            {
                "detector": detector,
                "topic": topic,
                "kind": kind,
                "event_id": event_id,
                "event_time": stamp,
                "score": score,
            },
            "AlarmPublisher.publish",
        )
        self._producer.produce(self.topic, self._encode(alarm), key=detector.encode(), timestamp=stamp // 1000)
        self._producer.poll(0)
        self.published += 1
        return alarm

    def close(self) -> None:
        """Deliver every alarm sent (RuntimeError if some are still queued after 30 s)."""
        if self._producer is not None and self._producer.flush(30):
            raise RuntimeError(f"AlarmPublisher: alarms not delivered to {self.topic!r} within 30 s")
