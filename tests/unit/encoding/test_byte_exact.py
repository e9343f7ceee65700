"""Property: datagen's Avro bytes are exactly fastavro's, and its Kafka framing exactly AvroSerializer's.

Values are drawn from the parsed schemas themselves (every stream, every event type, the ground-truth
topic), so the pins hold for any encoder that replaces the compiled one. Hypothesis runs derandomised
(a fixed seed per test) so CI sees the same examples every run.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from producer.domains import SPECS
from producer.embedded.registry import LocalSchemaRegistry
from producer.encoding.avro import RegistryAvro, avro_value, fastavro_encoder, schemaless_encoder
from producer.encoding.compiled import compile_encoder
from producer.encoding.pipeline import GROUND_TRUTH
from producer.encoding.schemas import GROUND_TRUTH_SCHEMA, schema_dict, schema_text

Strategy = st.SearchStrategy[Any]

# 38 cases (37 event types + the ground-truth record) x 40 examples, each encoded with its signed-zero
# twin: 3,040 bodies compared; the all-types test runs 40 examples + 1 explicit; ~10 s in all with framing
BODY = settings(max_examples=40, derandomize=True, database=None, deadline=None)
# 9 topics x 8 examples, each a registry-backed encode; the first example of a topic is datagen's
# own self-check against AvroSerializer, the other 7 go through its framed fast path (each with its twin)
FRAMING = settings(
    max_examples=8, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

INT32, INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)


def signed_boundaries(low: int, high: int) -> list[int]:
    """Values whose zig-zag varint changes length (2^(7k-1) either side of zero), and the range ends."""
    out = {0, 1, -1, low, high}
    for k in range(1, 10):
        edge = 1 << (7 * k - 1)
        out.update(v for v in (edge - 1, edge, -edge, -edge - 1) if low <= v <= high)
    return sorted(out)


def integers(low: int, high: int) -> Strategy:
    """The whole signed range, with every varint-length boundary drawn often."""
    return st.integers(low, high) | st.sampled_from(signed_boundaries(low, high))


def decimals(precision: int, scale: int) -> Strategy:
    """Decimals that fit the schema: any sign, zero (and -0), the precision limit, byte-width edges.

    Each is written with exactly `scale` places or normalised (trailing zeros dropped, even to a
    positive exponent): both are valid Decimal spellings of one value and must encode alike.
    """
    limit = 10**precision - 1
    # two's complement widths change at 2^(8k-1): 127/128, 32767/32768, ...
    edges = [e for k in range(1, 8) for e in ((1 << (8 * k - 1)) - 1, 1 << (8 * k - 1)) if e <= limit] + [limit]
    unscaled = st.integers(-limit, limit) | st.sampled_from([0, *edges, *(-e for e in edges)])

    def spell(n: int, normalise: bool, negative_zero: bool) -> Decimal:
        value = Decimal(n).scaleb(-scale)
        if n == 0 and negative_zero:
            value = value.copy_negate()
        return value.normalize() if normalise else value

    return st.builds(spell, unscaled, st.booleans(), st.booleans())


def offsets() -> Strategy:
    """UTC most often, and fixed offsets either side of it (aware datetimes in any zone name one instant)."""
    minutes = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
    return st.just(UTC) | minutes


def timestamps() -> Strategy:
    """Aware datetimes from year 1 to 9999, or the long itself."""
    return st.datetimes(timezones=offsets()) | integers(*INT64)


def strings() -> Strategy:
    """Any text (UTF-8 length != character count), and some just around the 4096-byte length table."""
    return st.text() | st.integers(4093, 4099).map(lambda n: "x" * n)


def uuids() -> Strategy:
    """Canonical UUID text (as datagen writes), UUID objects, and other 36-character or arbitrary text."""
    return st.uuids().map(str) | st.uuids() | st.text(min_size=36, max_size=36) | strings()


def primitive(kind: str) -> Strategy:
    """The strategy of a primitive Avro type (doubles include NaN, infinities, -0.0 and subnormals)."""
    table: dict[str, Strategy] = {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": integers(*INT32),
        "long": integers(*INT64),
        "float": st.floats(width=32),
        "double": st.floats(),
        "bytes": st.binary() | st.integers(4093, 4099).map(bytes),
        "string": strings(),
    }
    return table[kind]


def logical(schema: dict[str, Any]) -> Strategy | None:
    """The strategy of a logical type, or None when `schema` has none."""
    kind = schema.get("logicalType")
    if kind == "decimal" and schema["type"] == "bytes":
        return decimals(schema["precision"], schema.get("scale", 0))
    if kind in ("timestamp-micros", "timestamp-millis"):
        return timestamps()
    if kind == "date":
        return st.dates() | integers(*INT32)
    if kind == "uuid":
        return uuids()
    return None


def in_branch(name: str, value: Any) -> tuple[str, Any]:
    """A union value in tuple notation: the branch's full name and the value."""
    return name, value


class Strategies:
    """Hypothesis strategies built from a parsed (fastavro) schema: one per named type, built once."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        self.named: dict[str, Any] = parsed.get("__named_schemas", {})
        self.built: dict[str, Strategy] = {}

    def of(self, schema: Any) -> Strategy:
        """The values datagen may hand the encoder for `schema` (plain Python, no union tuples)."""
        if isinstance(schema, str):
            if schema in self.named:
                return self.named_type(schema)
            return primitive(schema)
        if isinstance(schema, list):
            return self.union(schema)
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            return self.named_type(schema["name"], schema)
        if kind == "array":
            return st.lists(self.of(schema["items"]), max_size=4)
        if kind == "map":
            return st.dictionaries(strings(), self.of(schema["values"]), max_size=4)
        special = logical(schema)
        return primitive(kind) if special is None else special

    def named_type(self, name: str, schema: dict[str, Any] | None = None) -> Strategy:
        """A record, enum or fixed by full name (parsed schemas define each once, then refer by name)."""
        if name not in self.built:
            schema = schema or self.named[name]
            if schema["type"] == "record":
                self.built[name] = self.record(schema)
            elif schema["type"] == "enum":
                self.built[name] = st.sampled_from(schema["symbols"])
            else:
                self.built[name] = st.binary(min_size=schema["size"], max_size=schema["size"])
        return self.built[name]

    def record(self, schema: dict[str, Any], **overrides: Strategy) -> Strategy:
        """A record's dict, each field from its type unless overridden."""
        fields = {
            f["name"]: overrides[f["name"]] if f["name"] in overrides else self.of(f["type"]) for f in schema["fields"]
        }
        return st.fixed_dictionaries(fields)

    def union(self, branches: list[Any]) -> Strategy:
        """A union's value: a plain value of one branch; named branches in tuple notation when ambiguous."""
        concrete = [b for b in branches if b != "null"]
        options: list[Strategy] = [st.none()] if "null" in branches else []
        for branch in concrete:
            name = self.branch_name(branch)
            if len(concrete) > 1 and name in self.named:
                options.append(self.of(branch).map(partial(in_branch, name)))
            else:
                options.append(self.of(branch))
        return st.one_of(options)

    def branch_name(self, branch: Any) -> str:
        """A branch's full name (named types) or type name."""
        if isinstance(branch, str):
            return branch
        return branch["name"] if branch["type"] in ("record", "enum", "fixed") else branch["type"]


def parse(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema parsed by fastavro (named types fully qualified, listed under __named_schemas)."""
    out = fastavro.parse_schema(schema)
    assert isinstance(out, dict)
    return out


def parsed(schema_file: str) -> dict[str, Any]:
    """A schema file parsed by fastavro, as avro.schemaless_encoder and fastavro_encoder load it."""
    return parse(schema_dict(schema_file))


def event_values(stream: str, event_type: str) -> Strategy:
    """Envelope values of one event type, as a generator emits them (payload and truth as plain dicts)."""
    spec = SPECS[stream]
    schema = parsed(spec.schema)
    strategies = Strategies(schema)
    payload = strategies.named_type(spec.event_types[event_type])
    return strategies.record(schema, event_type=st.just(event_type), payload=payload)


def in_union_notation(stream: str, value: dict[str, Any]) -> dict[str, Any]:
    """An event value in avro_value's union notation, as fastavro and AvroSerializer take it."""
    return value if stream == GROUND_TRUTH else avro_value(value, SPECS[stream].event_types)


def record_names(stream: str) -> dict[str, str] | None:
    """event_type -> payload record of a stream (None for the ground-truth topic), for the tagged encoder."""
    return None if stream == GROUND_TRUTH else SPECS[stream].event_types


def ground_truth_values() -> Strategy:
    """Records of the ground-truth topic (event, episode and drift labels alike)."""
    schema = parsed(GROUND_TRUTH_SCHEMA)
    return Strategies(schema).record(schema)


def stream_values(stream: str) -> Strategy:
    """Values of any event type of a stream (or ground-truth records)."""
    if stream == GROUND_TRUTH:
        return ground_truth_values()
    return st.one_of([event_values(stream, event_type) for event_type in SPECS[stream].event_types])


def schema_of(stream: str) -> str:
    """The schema file of a stream or of the ground-truth topic."""
    return GROUND_TRUTH_SCHEMA if stream == GROUND_TRUTH else SPECS[stream].schema


def signed_zero_twin(value: Any) -> Any:
    """`value` with the sign of every float zero flipped: equal (and hashing alike) in Python, not in Avro."""
    if isinstance(value, float) and value == 0:
        return -value
    if isinstance(value, dict):
        return {key: signed_zero_twin(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(signed_zero_twin(item) for item in value)
    return value


BODY_CASES = [(stream, event_type) for stream in sorted(SPECS) for event_type in SPECS[stream].event_types]
BODY_CASES.append((GROUND_TRUTH, "label"))
TOPICS = [*sorted(SPECS), GROUND_TRUTH]


# 3,040 schema-drawn bodies (~10 s): a property soak for the full run; the quick pass (-m "not slow") keeps
# test_compiled.py's 60k real events of every stream and the all-types record against fastavro
@pytest.mark.slow
@pytest.mark.parametrize(("stream", "event_type"), BODY_CASES, ids=[f"{s}:{e}" for s, e in BODY_CASES])
def test_body_is_byte_exact_with_fastavro(stream: str, event_type: str) -> None:
    """The compiled encoder writes fastavro's bytes for any value of the event type's schema."""
    schema_file = schema_of(stream)
    # one encoder per case, as in a run: its memoised Truth records see every example
    compiled, reference = schemaless_encoder(schema_file), fastavro_encoder(schema_file)
    # the encoder runs use: payload branch named by event_type, values as generators make them
    tagged = schemaless_encoder(schema_file, record_names(stream))
    values = ground_truth_values() if stream == GROUND_TRUTH else event_values(stream, event_type)

    @BODY
    @given(values)
    def check(value: dict[str, Any]) -> None:
        # the twin right after the value: an encoder caching on == must not hand back the value's bytes
        for spelling in (value, signed_zero_twin(value)):
            expected = reference(in_union_notation(stream, spelling))
            assert compiled(in_union_notation(stream, spelling)) == expected
            assert tagged(spelling) == expected

    check()


ALL_TYPES = {
    "type": "record",
    "name": "AllTypes",
    "namespace": "t",
    "fields": [
        {"name": "f", "type": "float"},
        {"name": "i", "type": "int"},
        {"name": "by", "type": "bytes"},
        {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "money", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 4}},
        {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "mixed", "type": {"type": "map", "values": ["null", "long", "double", "string", "Four"]}},
        {
            "name": "maybe",
            "type": [
                "null",
                {"type": "string", "logicalType": "uuid"},
                {"type": "long", "logicalType": "timestamp-micros"},
            ],
        },
        {"name": "maybe_day", "type": ["null", {"type": "int", "logicalType": "date"}]},
    ],
}


ALL_TYPES_PARSED = parse(ALL_TYPES)
ALL_TYPES_ENCODER = compile_encoder(ALL_TYPES)
EXAMPLE = {
    "f": 0.0,
    "i": 0,
    "by": b"",
    "fx": b"\x00" * 4,
    "ms": 0,
    "day": 0,
    "money": Decimal(0),
    "u": "00000000-0000-0000-0000-000000000000",
    "mixed": {},
    "maybe": None,
    "maybe_day": None,
}


@BODY
@example({**EXAMPLE, "u": "é" * 36})  # 36 characters, 72 bytes: compiled wrote a 36-byte length
@given(Strategies(ALL_TYPES_PARSED).record(ALL_TYPES_PARSED))
def test_types_no_stream_uses_yet_are_byte_exact(value: dict[str, Any]) -> None:
    """float, int, plain bytes, fixed, millis, date, multi-branch unions: pinned before a stream uses them."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, ALL_TYPES_PARSED, value)
    assert ALL_TYPES_ENCODER(value) == buffer.getvalue()


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded schema registry, file-backed in a temporary folder."""
    data: Path = tmp_path_factory.mktemp("byte-exact-registry")
    with LocalSchemaRegistry(data_dir=data) as registry:
        yield registry.url


class Collect(logging.Handler):
    """A handler keeping the records it is given."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record."""
        self.records.append(record)


@contextmanager
def warnings_of(logger: str) -> Iterator[list[logging.LogRecord]]:
    """Collect the WARNING records of one logger while the block runs (no caplog: hypothesis reruns the body)."""
    records: list[logging.LogRecord] = []
    handler = Collect(records)
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield records
    finally:
        target.removeHandler(handler)


@pytest.mark.parametrize("stream", TOPICS)
def test_framed_value_is_byte_exact_with_avro_serializer(stream: str, registry_url: str) -> None:
    """datagen's Kafka value (magic byte, schema id, body) is AvroSerializer's, under subject <topic>-value."""
    topic, schema_file = stream, schema_of(stream)
    client = SchemaRegistryClient({"url": registry_url})
    serializer = AvroSerializer(client, schema_text(schema_file))  # registers as any Confluent client would
    ctx = SerializationContext(topic, MessageField.VALUE)
    with warnings_of("producer.encoding.avro") as warnings:
        encode: Callable[[dict[str, Any]], bytes] = RegistryAvro(registry_url).encoder(
            topic, schema_file, record_names(stream)
        )
        header = b"\x00" + struct.pack(">I", client.get_latest_version(f"{topic}-value").schema_id)

        @FRAMING
        @given(stream_values(stream))
        def check(value: dict[str, Any]) -> None:
            for spelling in (value, signed_zero_twin(value)):
                framed = encode(spelling)
                assert framed[:5] == header
                assert framed == bytes(serializer(in_union_notation(stream, spelling), ctx))

        check()
    # the first record is datagen's self-check: a difference there silently switches to AvroSerializer
    assert not [w.getMessage() for w in warnings if "framing differs" in w.getMessage()]


def test_the_first_record_asks_the_registry_nothing(registry_url: str) -> None:
    """The lookups AvroSerializer makes on its first record (the framing self-check) are made and cached when the
    encoder is built, before a run's clock starts: on the shared 2-core machine they took ~0.6 s of producing time.
    """
    from tests.unit.domains.conftest import conformance_sample

    stream = "fintech.transactions"
    avro = RegistryAvro(registry_url)
    encode = avro.encoder(stream, schema_of(stream), record_names(stream))
    requests: list[tuple[Any, ...]] = []
    rest = avro.client._rest_client
    send = rest.send_request
    rest.send_request = lambda *args, **kwargs: requests.append(args) or send(*args, **kwargs)
    encode(conformance_sample(stream).events[0].value)
    assert requests == []
