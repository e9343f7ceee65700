"""The encoding stage: a batch's records, in its order, each value as its stream's encoder writes it."""

from __future__ import annotations

import json

import pytest

from producer.domains import SPECS
from producer.encoding.avro import schemaless_encoder
from producer.encoding.jsonl import encode_json
from producer.encoding.pipeline import Encoding

HEADER = b"\x00\x00\x00\x00\x07"  # a Confluent frame with a fixed schema id: no registry needed here


def framed(topic: str, schema: str, names: dict[str, str] | None):  # type: ignore[no-untyped-def]
    """An encoder factory as the Kafka run's, without the registry round trip."""
    body = schemaless_encoder(schema, names)
    return lambda value: HEADER + body(value)


@pytest.mark.parametrize("labels", ["inline", "off"])
@pytest.mark.parametrize("fmt", ["avro", "jsonl"])
def test_records_follow_the_batch_one_per_event(steady_state_sample, labels, fmt) -> None:
    """Per-stream block encoding keeps the batch's order, and every value is its own encoder's bytes."""
    batch = steady_state_sample.events[:6000]  # every stream but trips (tolerance: none, exact bytes)
    encoding = Encoding(list(SPECS.values()), fmt, labels, "p.", framed if fmt == "avro" else None)
    records = encoding.encode(batch)
    assert len(records) == len(batch)
    bodies = {name: schemaless_encoder(spec.schema, spec.event_types) for name, spec in SPECS.items()}
    ends_with_zero = 0
    for event, record in zip(batch, records, strict=True):
        value = event.value if labels == "inline" else {**event.value, "truth": None}
        expected = HEADER + bodies[event.stream](value) if fmt == "avro" else encode_json(value)
        assert record == ("p." + event.stream, event.key.encode(), expected, event.time_us // 1000)
        ends_with_zero += record.value.endswith(b"\x00")
    if fmt == "avro":
        assert ends_with_zero > 1000  # bodies ending in a zero byte (a false flag, a null) are kept whole
    else:
        assert json.loads(records[0].value)["event_id"] == batch[0].value["event_id"]


def test_an_empty_batch_gives_no_records() -> None:
    """Nothing in, nothing out (a tick with nothing due)."""
    assert Encoding(list(SPECS.values()), "jsonl", "inline", "").encode([]) == []
