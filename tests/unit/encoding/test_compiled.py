"""Compiled Avro encoders write exactly the bytes fastavro writes."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import fastavro
import pytest

from producer.domains import SPECS
from producer.encoding.avro import avro_value, fastavro_encoder, schemaless_encoder
from producer.encoding.compiled import compile_encoder
from producer.scenario.loader import load_scenario
from producer.scheduling.sources import EventSource


def reference(schema, record) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def events_by_stream(steady_state_sample):
    """The first 60k events of steady_state by topic (from the session's shared sample, tests/unit/conftest.py)."""
    out: dict[str, list] = {}
    # trips trickle in steady state (warm start): the first is near 44k
    for event in steady_state_sample.events[:60_000]:
        out.setdefault(event.stream, []).append(event)
    return out


@pytest.mark.parametrize("stream", sorted(SPECS))
def test_every_stream_encodes_identically_to_fastavro(stream, events_by_stream):
    spec = SPECS[stream]
    compiled, generic = schemaless_encoder(spec.schema), fastavro_encoder(spec.schema)
    events = events_by_stream[stream]
    assert events, f"no {stream} events in the sample"
    for event in events:
        value = avro_value(event.value, spec.event_types)
        assert compiled(value) == generic(value), event.value["event_type"]


@pytest.mark.parametrize("stream", sorted(SPECS))
def test_event_values_encode_as_their_event_type_names_without_conversion(stream, events_by_stream):
    """The tagged encoder (payload branch by event_type) takes generators' values as they are."""
    spec = SPECS[stream]
    tagged, generic = schemaless_encoder(spec.schema, spec.event_types), fastavro_encoder(spec.schema)
    types = set()
    for event in events_by_stream[stream]:
        types.add(event.value["event_type"])
        unlabelled = {**event.value, "truth": None}  # --labels topic/off
        for value in (event.value, unlabelled):
            assert tagged(value) == generic(avro_value(value, spec.event_types)), event.value["event_type"]
    assert types, f"no {stream} events in the sample"


@pytest.mark.parametrize("stream", sorted(SPECS))
def test_injected_truth_encodes_identically_to_fastavro(stream, events_by_stream):
    """steady_state injects nothing: set truth.injected by hand, as on an injected episode's events."""
    spec = SPECS[stream]
    compiled, generic = schemaless_encoder(spec.schema), fastavro_encoder(spec.schema)
    event = events_by_stream[stream][0]
    encoded = []
    for injected in (False, True):
        value = avro_value({**event.value, "truth": {**event.value["truth"], "injected": injected}}, spec.event_types)
        encoded.append(compiled(value))
        assert encoded[-1] == generic(value)
    assert encoded[0] != encoded[1]


SCHEMA = {
    "type": "record",
    "name": "All",
    "namespace": "t",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "b", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "by", "type": "bytes"},
        {"name": "s", "type": "string"},
        {"name": "e", "type": {"type": "enum", "name": "Colour", "symbols": ["red", "green"]}},
        {"name": "e2", "type": "Colour"},
        {"name": "a", "type": {"type": "array", "items": "long"}},
        {"name": "m", "type": {"type": "map", "values": "string"}},
        {"name": "money", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "u",
            "type": [
                "null",
                "string",
                "long",
                {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "double"}]},
            ],
        },
        {"name": "nested", "type": {"type": "array", "items": "Inner"}},
    ],
}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"i": -5, "l": 2**62, "s": "é" * 3000, "a": [], "m": {}, "money": Decimal("-1234567.89"), "u": 7},
        {"money": Decimal("0.5"), "u": ("t.Inner", {"x": -1.5}), "by": b"\x00" * 200},
        {"money": Decimal("-0.01"), "u": "text", "ts": datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)},
        {"money": Decimal("127.99"), "u": {"x": 2.0}, "ms": 123456789, "day": 19000, "e2": "green"},
        {"money": Decimal("-1.28")},
        {"money": Decimal("-1.29")},
        {"money": Decimal("1.28")},
        {"money": Decimal("-327.68")},
        {"money": Decimal("0.00")},
        {"money": Decimal("-0.00")},
        {"money": Decimal("99999999999999.99")},
    ],
)
def test_every_supported_type_matches_fastavro(overrides):
    record = {
        "n": None,
        "b": True,
        "i": 42,
        "l": -(2**40),
        "f": 1.5,
        "d": 3.25,
        "by": b"abc",
        "s": "hello",
        "e": "red",
        "e2": "red",
        "a": [1, -2, 300],
        "m": {"k": "v", "k2": ""},
        "money": Decimal("12.34"),
        "ts": datetime(2026, 1, 5, 8, 0, 0, 123456, tzinfo=UTC),
        "ms": datetime(2026, 1, 5, tzinfo=UTC),
        "day": date(2026, 1, 5),
        "u": None,
        "nested": [{"x": 0.0}, {"x": 1e300}],
    } | overrides
    assert compile_encoder(SCHEMA)(record) == reference(SCHEMA, record)


def test_memoised_records_stay_correct_when_values_change():
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {
                "name": "t",
                "type": {
                    "type": "record",
                    "name": "T",
                    "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "string"}],
                },
            }
        ],
    }
    encode = compile_encoder(schema, memo=("T",))
    for a, b in [(1, "x"), (1, "y"), (2, "x"), (1, "x")]:
        assert encode({"t": {"a": a, "b": b}}) == reference(schema, {"t": {"a": a, "b": b}})


def test_no_stage_changes_a_truth_dict_after_its_event_was_made():
    """The truth memo finds a dict by identity: every stage must copy on write, never edit in place.

    Every stream with drift, injection and disorder (every_stream.yaml) is played through the
    scheduler and the Avro encoding; each truth dict's items are recorded as its generator returns
    it (before relabelling and disorder) and must be unchanged at the end, and the encoded bytes
    must equal fastavro's.
    """
    from producer.domains import output_specs
    from producer.encoding.pipeline import Encoding

    loaded = load_scenario(str(Path(__file__).parents[2] / "fixtures" / "every_stream.yaml"))
    source = EventSource(loaded)
    specs = output_specs(list(loaded.scenario.streams))
    encoding = Encoding(specs, "avro", "inline", "", lambda topic, schema, names: schemaless_encoder(schema, names))
    generic = {spec.name: fastavro_encoder(spec.schema) for spec in specs}
    seen: dict[int, tuple[dict, tuple]] = {}
    shared = [0]

    def snapshot(generate):
        def recorded(*args, **kwargs):
            out = generate(*args, **kwargs)
            for event in out.events():
                truth = event.value["truth"]
                shared[0] += id(truth) in seen
                seen.setdefault(id(truth), (truth, tuple(truth.items())))
            return out

        return recorded

    for partition in source.sources:
        partition.generator.generate_rows = snapshot(partition.generator.generate_rows)
    while not source.ended:
        events = source.take(2000)
        for event, record in zip(events, encoding.encode(events), strict=True):
            expected = generic[event.stream](avro_value(event.value, SPECS[event.stream].event_types))
            assert record.value == expected, event.value["event_type"]
    assert shared[0] > 0  # events do share truth dicts (else the identity path is never taken)
    changed = [items for truth, items in seen.values() if tuple(truth.items()) != items]
    assert not changed, changed[:3]
