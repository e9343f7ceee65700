"""Avro encoding: schemaless bodies for files, Confluent wire format through the schema registry."""

from __future__ import annotations

import io
import logging
import struct
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import fastavro

from producer.encoding.compiled import compile_encoder
from producer.encoding.schemas import TRUTH_RECORD, schema_dict, schema_text
from producer.errors import BrokerUnavailable
from producer.redact import safe_url

log = logging.getLogger(__name__)

Encode = Callable[[dict[str, Any]], bytes]


def avro_value(value: dict[str, Any], record_names: dict[str, str]) -> dict[str, Any]:
    """An event value with its unions in fastavro tuple notation (no costly branch guessing)."""
    out = dict(value)
    out["payload"] = (record_names[value["event_type"]], value["payload"])
    truth = value["truth"]
    out["truth"] = None if truth is None else (TRUTH_RECORD, truth)
    return out


def schemaless_encoder(schema_file: str, record_names: dict[str, str] | None = None) -> Encode:
    """An encoder writing the schemaless Avro body of one record (no framing).

    A schema-specialised encoder (producer.encoding.compiled), about twice as fast as fastavro's
    generic writer and byte-identical to it (tested per stream; and checked against
    AvroSerializer on the first record of every Kafka run). With `record_names` (event_type ->
    payload record name) it takes event values as generators make them: the payload's branch is
    the one its event_type names, with no avro_value conversion first.
    """
    schema = schema_dict(schema_file)
    fastavro.parse_schema(schema)  # reject an invalid schema with fastavro's message
    tags = None if record_names is None else {"payload": ("event_type", record_names)}
    return compile_encoder(schema, memo=(TRUTH_RECORD,), tags=tags)


def fastavro_encoder(schema_file: str) -> Encode:
    """fastavro's generic schemaless writer: the reference the compiled encoders are tested against."""
    parsed = fastavro.parse_schema(schema_dict(schema_file))
    writer = fastavro.schemaless_writer

    def encode(record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        writer(buffer, parsed, record)
        return buffer.getvalue()

    return encode


class RegistryAvro:
    """Confluent-framed Avro through confluent-kafka's SchemaRegistryClient and AvroSerializer."""

    def __init__(self, url: str, conf: dict[str, str] | None = None, stop: threading.Event | None = None) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.url = url
        self.client = SchemaRegistryClient({"url": url, **(conf or {})})
        self._stop = stop or threading.Event()

    def encoder(
        self, topic: str, schema_file: str, record_names: dict[str, str] | None = None, max_backoff: float = 30.0
    ) -> Encode:
        """An encoder for `topic` (subject `<topic>-value`), registering the schema with retries.

        The wire format is confluent-kafka's own: magic byte 0, the 4-byte schema id, the Avro
        body. Framing it here costs less than half of a per-record AvroSerializer call; the first
        record is encoded both ways and compared, and on any difference the AvroSerializer is used.
        `record_names` as for schemaless_encoder (the AvroSerializer gets the avro_value form).
        """
        from confluent_kafka.schema_registry import Schema, topic_subject_name_strategy
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        schema_id = self._register(topic, schema_file, max_backoff)
        # the subject is `<topic>-value`, as registered; looked up now (cached by the client), the first
        # record's serializer call below asks the registry nothing while the run is producing
        self.client.lookup_schema(f"{topic}-value", Schema(schema_text(schema_file), "AVRO"))
        conf = {"auto.register.schemas": False, "subject.name.strategy": topic_subject_name_strategy}
        serializer = AvroSerializer(self.client, schema_text(schema_file), conf=conf)
        ctx = SerializationContext(topic, MessageField.VALUE)
        body = schemaless_encoder(schema_file, record_names)
        header = b"\x00" + struct.pack(">I", schema_id)

        def framed(record: dict[str, Any]) -> bytes:
            return header + body(record)

        def serialized(record: dict[str, Any]) -> bytes:
            return bytes(serializer(record if record_names is None else avro_value(record, record_names), ctx))

        def first(record: dict[str, Any]) -> bytes:
            reference = serialized(record)
            if reference != framed(record):
                log.warning("framing differs from AvroSerializer topic=%s; using AvroSerializer", topic)
                current[0] = serialized
            else:
                current[0] = framed
            return reference

        current: list[Encode] = [first]

        def encode(record: dict[str, Any]) -> bytes:
            return current[0](record)

        return encode

    def _register(self, topic: str, schema_file: str, max_backoff: float) -> int:
        """Register the schema under `<topic>-value`, retrying with backoff while unreachable."""
        from confluent_kafka.schema_registry import Schema, SchemaRegistryError

        subject, delay, attempt = f"{topic}-value", 1.0, 0
        while True:
            attempt += 1
            try:
                schema_id = self.client.register_schema(subject, Schema(schema_text(schema_file), "AVRO"))
                log.info("schema registered subject=%s id=%s registry=%s", subject, schema_id, safe_url(self.url))
                return schema_id
            except SchemaRegistryError as exc:
                if exc.http_status_code and 400 <= exc.http_status_code < 500:
                    # the registry answered and refused: retrying will not help
                    raise BrokerUnavailable(refused_message(self.url, exc.http_status_code, exc.error_message)) from exc
                error: Exception = exc
            except Exception as exc:  # connection refused, DNS, timeouts
                error = exc
            log.warning(
                "schema registry unreachable url=%s attempt=%d retry_in=%.0fs error=%s",
                safe_url(self.url),
                attempt,
                delay,
                type(error).__name__,
            )
            if self._stop.wait(delay):
                raise BrokerUnavailable(safe_url(f"schema registry {self.url} unreachable: {error}"))
            delay = min(delay * 2, max_backoff)


def refused_message(url: str, status: int, detail: str) -> str:
    """One line for a registry that answered 4xx: URL without credentials, status, and what to check."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    line = f"schema registry {safe_url(url)} refused the request: HTTP {status} {phrase}".rstrip()
    if status in (401, 403):
        return f"{line} (check schema.registry.basic.auth.user.info)"
    return f"{line}: {detail[:200]}" if detail else line
