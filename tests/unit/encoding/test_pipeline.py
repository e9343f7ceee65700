"""The encoding stage: a batch's records, in its order, each value as its stream's encoder writes it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from producer.domains import SPECS, output_specs
from producer.domains.common.rows import EventsPart, RowSet
from producer.encoding.avro import Encode, schemaless_encoder
from producer.encoding.jsonl import encode_json
from producer.encoding.pipeline import EncoderFactory, Encoding

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


def carried_as_events(rows: RowSet, stream: str) -> RowSet:
    """`rows` with `stream`'s rows carried by one EventsPart of their Events, as a generator building Events gives them.

    Every generator in every_stream.yaml now returns Parts; this keeps the mixed batches the encoder must handle.
    """
    at = np.flatnonzero([rows.parts[p].stream == stream for p in rows.pid.tolist()])
    events = [rows.parts[p].all_events()[r] for p, r in zip(rows.pid[at].tolist(), rows.row[at].tolist())]
    carried = EventsPart(stream, events, np.arange(len(events), dtype=np.int64))
    pid, row = rows.pid.copy(), rows.row.copy()
    pid[at], row[at] = carried.uid, np.arange(len(at), dtype=np.int64)
    return RowSet({**rows.parts, carried.uid: carried}, pid, row, rows.time_us, rows.labels())


def prefixed(prefix: bytes, odd_stream: str | None = None) -> EncoderFactory:
    """An encoder factory writing `prefix` + the schemaless body (and, for `odd_stream`, a trailing byte more)."""

    def factory(topic: str, schema: str, names: dict[str, str] | None) -> Encode:
        body = schemaless_encoder(schema, names)
        if odd_stream is not None and topic.endswith(odd_stream):
            return lambda value: prefix + body(value) + b"!"
        return lambda value: prefix + body(value)

    return factory


@pytest.mark.parametrize("labels", ["inline", "off"])
@pytest.mark.parametrize("prefix", [HEADER, b""])
def test_rows_encode_to_the_records_of_their_events(every_stream_rows, labels, prefix) -> None:
    """encode_rows (heads cached per part, truths per batch) gives exactly encode(rows.events()): every stream.

    every_stream.yaml has drift, an injection window and disorder; no tolerance: the records are compared whole.
    """
    loaded, batches = every_stream_rows
    specs = output_specs(list(loaded.scenario.streams))
    by_rows = Encoding(specs, "avro", labels, "p.", prefixed(prefix))
    by_events = Encoding(specs, "avro", labels, "p.", prefixed(prefix))
    # every other batch carries circles' rows as Events: the columnar path takes circles' Parts in the others
    batches = [carried_as_events(rows, "fintech.circles") if i % 2 else rows for i, rows in enumerate(batches)]
    topics: set[str] = set()
    for rows in batches:
        records = by_rows.encode_rows(rows)
        assert records == by_events.encode(rows.events())
        topics.update(record.topic for record in records)
    assert topics == {"p." + spec.name for spec in specs}
    assert by_rows._parts is not None and not by_rows._parts.fallback  # every column stream took the columnar path
    assert set(by_rows._parts.prefix.values()) == {prefix}
    kinds = {type(part).__name__ for rows in batches for part in rows.parts.values()}
    assert kinds == {"Part", "EventsPart"}  # circles' rows as Events ride along in the same batches
    disordered = sum(int((rows.disorder != 0).sum()) for rows in batches if rows.disorder is not None)
    assert disordered > 100  # ~5% of ~5k rows are late, out of order or duplicated


def test_a_stream_whose_columnar_bytes_differ_is_encoded_per_record(every_stream_rows, caplog) -> None:
    """If the per-record encoder's bytes do not end with the columnar body, that stream falls back, with a warning."""
    loaded, batches = every_stream_rows
    specs = output_specs(list(loaded.scenario.streams))
    odd = Encoding(specs, "avro", "inline", "", prefixed(HEADER, odd_stream="fintech.transactions"))
    reference = Encoding(specs, "avro", "inline", "", prefixed(HEADER, odd_stream="fintech.transactions"))
    with caplog.at_level(logging.WARNING, logger="producer.encoding.part_records"):
        for rows in batches:
            assert odd.encode_rows(rows) == reference.encode(rows.events())
    assert odd._parts is not None and odd._parts.fallback == {"fintech.transactions"}
    warned = [r.getMessage() for r in caplog.records if "per record" in r.getMessage()]
    assert warned == [
        "columnar Avro differs from the per-record encoder stream=fintech.transactions; encoding it per record"
    ]


@pytest.mark.parametrize("labels", ["topic", "inline"])
def test_json_and_label_records_go_through_the_events(every_stream_rows, labels) -> None:
    """JSON lines, and label records on their own topic, are encode(rows.events()) as they are."""
    loaded, batches = every_stream_rows
    specs = output_specs(list(loaded.scenario.streams))
    by_rows, by_events = (Encoding(specs, "jsonl", labels, "", None) for _ in range(2))
    for rows in batches[:3]:
        assert by_rows.encode_rows(rows) == by_events.encode(rows.events())
    assert by_rows.encode_rows(RowSet.empty()) == []


def test_a_batch_of_events_parts_only(every_stream_rows) -> None:
    """Rows whose parts all hold Events (circles' rows as Events) are encoded per record, keys and values apart."""
    loaded, batches = every_stream_rows
    batches = [carried_as_events(rows, "fintech.circles") for rows in batches]
    specs = output_specs(list(loaded.scenario.streams))
    by_rows, by_events = (Encoding(specs, "avro", "inline", "", prefixed(HEADER)) for _ in range(2))
    for rows in batches:
        events_rows = [at for part, at in rows.groups() if isinstance(part, EventsPart)]
        only = rows.take(np.sort(np.concatenate(events_rows)))
        assert len(only)
        assert by_rows.encode_rows(only) == by_events.encode(only.events())
