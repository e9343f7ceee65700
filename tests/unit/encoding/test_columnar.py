"""The columnar encoder writes, for every row of a Part, exactly the per-record encoder's (and fastavro's) bytes."""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import fastavro
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.domains import SPECS, STREAMS
from producer.domains.common.columns import Decimals, Micros, Part, TruthColumns
from producer.domains.common.event import Event
from producer.encoding.avro import schemaless_encoder
from producer.encoding.columnar import PartEncoders, TruthLabels
from producer.encoding.compiled import compile_encoder, micros
from producer.encoding.schemas import schema_dict, schemas_dir
from tests.unit.domains.conftest import conformance_sample

TRUTH_NAMES = [
    field["name"] for field in json.loads((schemas_dir() / "common" / "datagen.Truth.avsc").read_text())["fields"]
]


def same(values: list[Any]) -> bool:
    """Every value alike, in type and spelling too (1 and True, 0.0 and -0.0, 1.5 and 1.50 differ)."""
    first = values[0]
    return all(type(v) is type(first) and repr(v) == repr(first) for v in values)


def as_column(values: list[Any], numpy: bool) -> Any:
    """A column of one field's values: numpy/Micros/Decimals/dicts/scalars where they fit, else the list."""
    if not numpy:
        return list(values)
    kinds = set(map(type, values))
    if kinds == {dict}:
        return {name: as_column([v[name] for v in values], numpy) for name in values[0]}
    if same(values) and kinds != {list}:
        return values[0]  # one value shared by every row
    if kinds == {datetime}:
        return Micros(np.array([micros(v) for v in values], dtype=np.int64))
    if kinds == {Decimal}:
        scale = max(0, *(-v.as_tuple().exponent for v in values))
        return Decimals(np.array([int(v.scaleb(scale)) for v in values], dtype=np.int64), scale)
    for kind, dtype in ((bool, bool), (int, np.int64), (float, np.float64), (str, str)):
        if kinds == {kind}:
            return np.array(values, dtype=dtype)
    return list(values)


def to_parts(events: list[Event], numpy: bool) -> list[Part]:
    """The events as Parts, one per (stream, event type): the test's stand-in for columnar generators."""
    groups: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        groups.setdefault((event.stream, event.event_type), []).append(event)
    parts = []
    for (stream, event_type), group in groups.items():
        value = [e.value for e in group]
        truths = [v["truth"] for v in value]
        parts.append(
            Part(
                stream=stream,
                event_type=event_type,
                source_service=value[0]["source_service"],
                time_us=np.array([e.time_us for e in group], dtype=np.int64),
                key=[e.key for e in group],
                event_id=as_column([v["event_id"] for v in value], numpy),
                correlation_id=[v["correlation_id"] for v in value],
                payload={name: as_column([v["payload"][name] for v in value], numpy) for name in value[0]["payload"]},
                truth=TruthColumns(
                    scenario=truths[0]["scenario"],
                    phase=as_column([t["phase"] for t in truths], numpy),
                    drift_progress=np.array([t["drift_progress"] for t in truths]),
                    is_anomaly=as_column([t["is_anomaly"] for t in truths], numpy),
                    pattern=[t["pattern"] for t in truths],
                    risk_level=as_column([t["risk_level"] for t in truths], numpy),
                    injected=np.array([t["injected"] for t in truths]),
                    episode_id=as_column([t["episode_id"] for t in truths], numpy),
                ),
                event_version=value[0]["event_version"],
            )
        )
    return parts


def labels_of(truths: list[dict[str, Any]]) -> TruthLabels:
    """Per-row label columns of the truth dicts (numpy where the type allows)."""
    columns = {name: [t[name] for t in truths] for name in TRUTH_NAMES}
    return TruthLabels(
        scenario=truths[0]["scenario"],
        phase=columns["phase"],
        drift_progress=np.array(columns["drift_progress"], dtype=np.float64),
        is_anomaly=np.array(columns["is_anomaly"], dtype=bool),
        pattern=columns["pattern"],
        risk_level=np.array(columns["risk_level"], dtype=object),
        disorder=columns["disorder"],
        delay_ms=np.array(columns["delay_ms"], dtype=np.int64),
        injected=np.array(columns["injected"], dtype=bool),
        episode_id=columns["episode_id"],
    )


ENCODERS: dict[str, PartEncoders] = {}


def encoders(stream: str) -> PartEncoders:
    """One PartEncoders per stream for the whole module, as a run builds them."""
    if stream not in ENCODERS:
        spec = SPECS[stream]
        ENCODERS[stream] = PartEncoders(schema_dict(spec.schema), spec.event_types)
    return ENCODERS[stream]


def row_choices(n: int) -> list[np.ndarray | None]:
    """All rows, a sorted subset (every third row) and a permuted subset with a repeat (seed 3)."""
    rng = np.random.default_rng(3)
    subset = np.arange(0, n, 3, dtype=np.int64)
    permuted = rng.permutation(n)[: max(1, n // 2)]
    return [None, subset, np.append(permuted, permuted[:1])]


def check_parts(parts: list[Part]) -> int:
    """head + truth of every row (three row choices) is the per-record encoder's body; the rows checked."""
    checked = 0
    for part in parts:
        spec = SPECS[part.stream]
        per_record = schemaless_encoder(spec.schema, spec.event_types)
        enc = encoders(part.stream)
        for rows in row_choices(len(part)):
            events = part.events(rows)
            n = len(events)
            heads = enc.encode_heads(part, rows)
            assert part.truth is not None
            truths = enc.encode_truths(TruthLabels.of(part.truth, rows, n), n)
            expected = [per_record(e.value) for e in events]
            assert [h + t for h, t in zip(heads, truths, strict=True)] == expected, (part.stream, part.event_type)
            unlabelled = [per_record({**e.value, "truth": None}) for e in events]
            assert [h + t for h, t in zip(heads, enc.encode_truths(None, n), strict=True)] == unlabelled
            checked += n
    return checked


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy-columns", "plain-lists"])
@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_every_stream_and_event_type_is_byte_exact(stream: str, numpy: bool) -> None:
    """Each stream's conformance sample (every event type, companions too) as Parts, numpy and plain."""
    events = conformance_sample(stream).events
    parts = to_parts(events, numpy)
    for part in parts:  # the helper's parts hold the events they were made from
        assert part.events() == [e for e in events if (e.stream, e.event_type) == (part.stream, part.event_type)]
    cls = STREAMS[stream]
    seen = {(p.stream, p.event_type) for p in parts}
    assert {(cls.spec.name, t) for t in cls.spec.event_types} <= seen
    assert check_parts(parts) >= len(events)


def test_labels_as_columns_with_disorder_and_delays() -> None:
    """encode_truths from per-row columns (disorder, delays, -0.0) is the truth the per-record encoder writes."""
    events = conformance_sample("fintech.transactions").events[:300]
    rng = np.random.default_rng(5)
    truths = [
        {
            **e.value["truth"],
            "disorder": [None, "late", "duplicate"][i % 3],
            "delay_ms": int(rng.integers(-(2**40), 2**40)) if i % 7 else 0,
            "drift_progress": -0.0 if i % 2 else 0.0,
            "episode_id": f"chain-{i % 5}" if i % 4 else None,  # a cross-topic episode's id, or none
        }
        for i, e in enumerate(events)
    ]
    spec = SPECS["fintech.transactions"]
    per_record = schemaless_encoder(spec.schema, spec.event_types)
    enc = encoders(spec.name)
    (part,) = to_parts(events[:1], numpy=True)
    head = enc.encode_heads(part)[0]
    expected = [per_record({**events[0].value, "truth": t})[len(head) :] for t in truths]
    assert enc.encode_truths(labels_of(truths), len(truths)) == expected


@pytest.mark.parametrize(
    "stream", ["fintech.transactions", "telco.accounts", "fintech.sessions", "ecommerce.customers"]
)
def test_parts_of_one_event_type_encode_together_as_each_alone(stream: str) -> None:
    """encode_many concatenates the parts of an event type (numpy, lists and shared values mixed) before encoding."""
    events = conformance_sample(stream).events[:600]
    parts = [
        *to_parts(events[:200], numpy=True),
        *to_parts(events[200:400], numpy=False),
        *to_parts(events[400:], numpy=True),
    ]
    enc = encoders(stream)
    assert enc.encode_many(parts) == [enc.encode_heads(part) for part in parts]
    assert len({part.event_type for part in parts}) < len(parts)  # some event types do span several parts


# --- properties ------------------------------------------------------------------------------------------

SCHEMA = {
    "type": "record",
    "name": "Row",
    "namespace": "t",
    "fields": [
        {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "event_type", "type": "string"},
        {"name": "event_version", "type": "string"},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "source_service", "type": "string"},
        {"name": "correlation_id", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "payload",
            "type": [
                {
                    "type": "record",
                    "name": "P",
                    "fields": [
                        {"name": "n", "type": "long"},
                        {"name": "i", "type": "int"},
                        {"name": "s", "type": "string"},
                        {"name": "ns", "type": ["null", "string"]},
                        {"name": "ni", "type": ["null", "int"]},
                        {
                            "name": "money",
                            "type": {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 4},
                        },
                        {
                            "name": "nmoney",
                            "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 2}],
                        },
                        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
                        {"name": "x", "type": "double"},
                        {"name": "b", "type": "boolean"},
                        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b", "c"]}},
                        {
                            "name": "geo",
                            "type": {"type": "record", "name": "G", "fields": [{"name": "lat", "type": "double"}]},
                        },
                        {
                            "name": "ngeo",
                            "type": [
                                "null",
                                {"type": "record", "name": "H", "fields": [{"name": "k", "type": "long"}]},
                            ],
                        },
                        {"name": "tags", "type": {"type": "array", "items": "E"}},
                    ],
                }
            ],
        },
        {
            "name": "truth",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Truth",
                    "namespace": "datagen",
                    "fields": [
                        {"name": "is_anomaly", "type": "boolean"},
                        {"name": "pattern", "type": ["null", "string"]},
                        {"name": "risk_level", "type": ["null", "string"]},
                        {"name": "scenario", "type": "string"},
                        {"name": "phase", "type": "string"},
                        {"name": "drift_progress", "type": "double"},
                        {"name": "disorder", "type": ["null", "string"], "default": None},
                        {"name": "delay_ms", "type": "long", "default": 0},
                        {"name": "injected", "type": "boolean", "default": False},
                        {"name": "episode_id", "type": ["null", "string"], "default": None},
                    ],
                },
            ],
        },
    ],
}
PER_RECORD = compile_encoder(SCHEMA, tags={"payload": ("event_type", {"ev": "t.P"})})
FASTAVRO_SCHEMA = fastavro.parse_schema(SCHEMA)
ROW_ENCODERS = PartEncoders(SCHEMA, {"ev": "t.P"})
INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
# event times a datetime can hold (years 1-9999), as Part.events() turns them into datetimes
TIMES = st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999)
SYMBOLS = st.sampled_from(["a", "b", "c"])
TEXT = st.text() | st.sampled_from(["", "é" * 36, "x" * 5000])


@st.composite
def decimal_columns(draw: Any, scale: int, n: int, nullable: bool = False) -> Any:
    """Decimals at any scale 0-4 (int64 units, beyond int64 when rescaled too), or a list of Decimal (any size)."""
    if not nullable and draw(st.booleans()):
        units = draw(st.lists(INT64 | st.sampled_from([0, 127, 128, -128, -129, 1 << 55]), min_size=n, max_size=n))
        return Decimals(np.array(units, dtype=np.int64), draw(st.integers(0, scale)))
    value = st.builds(lambda u, s: Decimal(u).scaleb(-s), st.integers(-(10**25), 10**25), st.integers(0, scale))
    return draw(st.lists((st.none() | value) if nullable else value, min_size=n, max_size=n))


@st.composite
def row_parts(draw: Any) -> Part:
    """A Part of SCHEMA's rows: every field a shared value or a column (numpy, Micros, Decimals, dicts or lists)."""
    n = draw(st.integers(1, 6))

    def col(elements: Any, numpy: Any = None, shared: bool = True) -> Any:
        if shared and draw(st.booleans()):
            return draw(elements)
        items = draw(st.lists(elements, min_size=n, max_size=n))
        return numpy(items) if numpy is not None and draw(st.booleans()) else items

    def objects(items: list[Any]) -> np.ndarray:
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out

    payload = {
        "n": col(INT64, lambda v: np.array(v, dtype=np.int64)),
        "i": col(INT32, lambda v: np.array(v, dtype=np.int32)),
        "s": col(TEXT, objects),
        "ns": col(st.none() | TEXT, objects),
        "ni": col(st.none() | INT32, lambda v: np.array(v, dtype=object)),
        "money": draw(decimal_columns(4, n)),
        "nmoney": draw(decimal_columns(2, n, nullable=True)),
        "ts": col(TIMES, lambda v: Micros(np.array(v, dtype=np.int64)), shared=False),
        "x": col(st.floats(), lambda v: np.array(v, dtype=np.float64)),
        "b": col(st.booleans(), lambda v: np.array(v, dtype=bool)),
        "e": col(SYMBOLS, np.array),
        "geo": {"lat": col(st.floats(), lambda v: np.array(v, dtype=np.float64))}
        if draw(st.booleans())
        else [{"lat": x} for x in draw(st.lists(st.floats(), min_size=n, max_size=n))],
        "ngeo": col(st.none() | st.builds(lambda k: {"k": k}, INT64), shared=False),
        "tags": col(st.lists(SYMBOLS, max_size=3), shared=False),
    }
    truth = TruthColumns(
        scenario=draw(TEXT),
        phase=col(TEXT),
        drift_progress=col(st.floats(), lambda v: np.array(v, dtype=np.float64)),
        is_anomaly=col(st.booleans(), lambda v: np.array(v, dtype=bool)),
        pattern=col(st.none() | st.sampled_from(["spike", "é"])),
        risk_level=col(st.none() | TEXT),
        injected=col(st.booleans(), lambda v: np.array(v, dtype=bool)),
        episode_id=col(st.none() | TEXT),
    )
    uuids = st.uuids().map(str) | TEXT
    return Part(
        stream="t.rows",
        event_type="ev",
        source_service=draw(TEXT),
        time_us=np.array(draw(st.lists(TIMES, min_size=n, max_size=n)), dtype=np.int64),
        key="k",
        event_id=col(uuids, lambda v: np.array(v, dtype=object), shared=False),
        correlation_id=col(uuids, objects),
        payload=payload,
        truth=truth,
        event_version=draw(st.sampled_from(["1.0", "2.0"])),
    )


def fastavro_body(value: dict[str, Any]) -> bytes:
    """fastavro's schemaless body of a SCHEMA value (unions in tuple notation)."""
    buffer = io.BytesIO()
    tagged = {**value, "payload": ("t.P", value["payload"])}
    fastavro.schemaless_writer(buffer, FASTAVRO_SCHEMA, tagged)
    return buffer.getvalue()


# 150 parts of 1-6 rows, each encoded for all rows and a reversed subset; derandomised (the same examples each run)
@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(row_parts(), st.data())
def test_any_part_is_byte_exact(part: Part, data: Any) -> None:
    """Extreme longs, decimals of any sign and scale, any text, None in every nullable field, shared or columns."""
    n = len(part)
    reversed_subset = np.arange(n - 1, -1, -2, dtype=np.int64)
    for rows in (None, reversed_subset):
        events = part.events(rows)
        assert part.truth is not None
        heads = ROW_ENCODERS.encode_heads(part, rows)
        truths = ROW_ENCODERS.encode_truths(TruthLabels.of(part.truth, rows, len(events)), len(events))
        expected = [PER_RECORD(e.value) for e in events]
        assert [h + t for h, t in zip(heads, truths, strict=True)] == expected
    if data.draw(st.integers(0, 9)) == 0:  # fastavro on one part in ten (it is the slow reference)
        assert [fastavro_body(e.value) for e in part.events()] == [PER_RECORD(e.value) for e in part.events()]


def good_part() -> Part:
    """A valid two-row Part of SCHEMA."""
    return Part(
        stream="t.rows",
        event_type="ev",
        source_service="svc",
        time_us=np.array([0, 1], dtype=np.int64),
        key="k",
        event_id=np.array(["a", "b"]),
        correlation_id="c",
        payload={
            "n": np.array([1, 2]),
            "i": 3,
            "s": ["x", "y"],
            "ns": [None, "z"],
            "ni": None,
            "money": Decimals(np.array([1, -1]), 2),
            "nmoney": None,
            "ts": Micros(np.array([5, 6])),
            "x": np.array([0.5, -0.0]),
            "b": np.array([True, False]),
            "e": np.array(["a", "c"]),
            "geo": {"lat": 1.5},
            "ngeo": [None, {"k": 4}],
            "tags": [[], ["b"]],
        },
        truth=None,
    )


def test_good_part_is_byte_exact() -> None:
    part = good_part()
    expected = [PER_RECORD(e.value) for e in part.events()]
    assert [h + b"\x00" for h in ROW_ENCODERS.encode_heads(part)] == expected


@pytest.mark.parametrize(
    ("field", "column", "error"),
    [
        ("n", np.array([1.0, 2.0]), TypeError),  # floats in a long: per record too
        ("n", ["1", "2"], TypeError),
        ("s", np.array([1, 2]), AttributeError),  # ints in a string
        ("ns", [None, 5], ValueError),  # no branch of [null, string] takes an int
        ("ni", np.array([True, False]), ValueError),  # nor of [null, int] a bool
        ("nmoney", [None, 3], ValueError),  # nor of [null, decimal] an int
        ("e", np.array(["a", "d"]), KeyError),  # not a symbol
        ("ts", np.array([1.5, 2.5]), TypeError),
        ("x", np.array(["0.5", "1"]), Exception),
        ("geo", {"lng": np.array([1.0, 2.0])}, KeyError),  # a record's column missing
        ("money", ["1.5", "2"], TypeError),
    ],
)
def test_a_bad_column_raises_as_the_per_record_encoder(field: str, column: Any, error: type[Exception]) -> None:
    part = good_part()
    part.payload[field] = column
    with pytest.raises(error):
        PER_RECORD(part.events()[1].value)
    with pytest.raises(error):
        ROW_ENCODERS.encode_heads(part)


def test_an_unknown_event_type_raises() -> None:
    part = good_part()
    part.event_type = "teleported"
    with pytest.raises(KeyError, match="teleported"):
        ROW_ENCODERS.encode_heads(part)
