"""Every shipped schema composes, parses, follows the envelope convention and defines the same Truth record.

Stream files declare only their own part (record name, namespace, doc, envelope_docs, payload); the
envelope and Truth are written once under schemas/common/ and composed by producer.encoding.schemas.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form

from producer.domains import SPECS
from producer.encoding.schemas import STREAM_KEYS, compose, schema_dict, schema_text, schemas_dir
from producer.errors import DatagenError

ENVELOPE = [
    "event_id",
    "event_type",
    "event_version",
    "timestamp",
    "source_service",
    "correlation_id",
    "payload",
    "truth",
]
ROOT = Path(__file__).resolve().parents[3]
STREAM_SCHEMAS = sorted(p for p in schemas_dir().rglob("*.avsc") if p.parent.name != "common")
# The texts registered before the envelope and Truth were split out of the stream files (compact JSON,
# as schema_text returns them). A deliberate schema change updates its entry in the same commit.
REGISTERED = json.loads((ROOT / "tests" / "fixtures" / "registered_schemas.json").read_text(encoding="utf-8"))
SHARED_TYPES = sorted(p for p in (schemas_dir() / "common").glob("*.*.avsc"))  # common/<full name>.avsc


def find_named(node, name: str):
    """The definition of a record, enum or fixed called name (short name) inside a schema, wherever it is."""
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and str(node.get("name")).rpartition(".")[2] == name:
            return node
        for value in node.values():
            found = find_named(value, name)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = find_named(value, name)
            if found:
                return found
    return None


def find_truth(node):
    """The datagen.Truth record definition inside a schema, wherever it is."""
    return find_named(node, "Truth")


REFERENCE_TRUTH = find_truth(schema_dict("common/ground_truth.avsc"))


def canonical(text: str) -> str:
    """The Parsing Canonical Form of a schema text (what decides wire compatibility and fingerprints)."""
    return to_parsing_canonical_form(fastavro.parse_schema(json.loads(text)))


def test_the_pinned_schemas_are_the_registered_ones():
    # every stream of the split and the ground truth; a stream added later has no earlier text to match
    assert len(REGISTERED) == 9
    assert set(REGISTERED) <= {spec.schema for spec in SPECS.values()} | {"common/ground_truth.avsc"}


@pytest.mark.parametrize("relative", sorted(REGISTERED))
def test_composed_schema_is_the_one_registered_before_the_split(relative: str):
    assert canonical(schema_text(relative)) == canonical(REGISTERED[relative])
    # docs, defaults and key order too: the registry sees the very text it holds, no new version
    assert schema_text(relative) == REGISTERED[relative]


@pytest.mark.parametrize("path", STREAM_SCHEMAS, ids=lambda p: str(p.relative_to(schemas_dir())))
def test_stream_file_declares_only_its_own_part(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert "fields" not in raw, "the envelope fields come from common/envelope.avsc; declare payload and envelope_docs"
    assert set(raw) <= STREAM_KEYS and raw["envelope"] == "common/envelope.avsc"
    assert not set(raw.get("envelope_docs", {})) & {"payload", "truth"}
    for shared in SHARED_TYPES:
        name = shared.name.removesuffix(".avsc").rpartition(".")[2]
        assert find_named(raw, name) is None, f"{name} is defined once, in common/{shared.name}"


@pytest.mark.parametrize("path", sorted((schemas_dir() / "common").glob("*.avsc")), ids=lambda p: p.name)
def test_common_files_define_each_shared_type_once(path: Path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    for shared in SHARED_TYPES:
        if shared != path:
            name = shared.name.removesuffix(".avsc").rpartition(".")[2]
            assert find_named(raw, name) is None, f"{name} is defined once, in common/{shared.name}"


@pytest.mark.parametrize("path", STREAM_SCHEMAS, ids=lambda p: str(p.relative_to(schemas_dir())))
def test_stream_schema_follows_the_envelope(path: Path):
    schema = schema_dict(path.relative_to(schemas_dir()).as_posix())
    fastavro.parse_schema(schema)
    assert [f["name"] for f in schema["fields"]] == ENVELOPE
    truth = find_truth(schema)
    assert truth is not None and {k: v for k, v in truth.items() if k != "namespace"} == {
        k: v for k, v in REFERENCE_TRUTH.items() if k != "namespace"
    }


def _stream_folder(tmp_path: Path, stream: dict) -> Path:
    """A schemas folder holding the shipped common/ files and one stream file, s.avsc."""
    shutil.copytree(schemas_dir() / "common", tmp_path / "common")
    (tmp_path / "s.avsc").write_text(json.dumps(stream))
    return tmp_path


MINIMAL = {
    "type": "record",
    "name": "SEvent",
    "namespace": "datagen.s",
    "envelope": "common/envelope.avsc",
    "payload": [{"type": "record", "name": "Ping", "fields": [{"name": "at", "type": "long"}]}],
}


def test_a_minimal_stream_file_composes_into_the_envelope(tmp_path: Path):
    schema = compose(_stream_folder(tmp_path, MINIMAL), "s.avsc")
    assert [f["name"] for f in schema["fields"]] == ENVELOPE and "envelope" not in schema
    parsed = fastavro.parse_schema(schema)
    assert {"datagen.s.SEvent", "datagen.s.Ping", "datagen.Truth"} <= set(parsed["__named_schemas"])
    assert find_truth(schema)["namespace"] == "datagen"  # kept: the stream's namespace is another one


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": []}, "unexpected keys fields"),
        ({"envelope_docs": {"event_typ": "x"}}, "envelope_docs names no envelope field: event_typ"),
        ({"payload": []}, "expected payload"),
    ],
)
def test_a_stream_file_that_declares_more_than_its_part_is_refused(tmp_path: Path, change: dict, message: str):
    with pytest.raises(DatagenError, match=message):
        compose(_stream_folder(tmp_path, {**MINIMAL, **change}), "s.avsc")


def test_a_schema_written_out_in_full_is_taken_as_it_is(tmp_path: Path):
    # a $DATAGEN_SCHEMAS_DIR of hand-written, complete schemas keeps working
    (tmp_path / "full.avsc").write_text(REGISTERED["fintech/circles.avsc"])
    assert json.dumps(compose(tmp_path, "full.avsc"), separators=(",", ":")) == REGISTERED["fintech/circles.avsc"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_event_types_name_records_of_the_payload_union(name: str):
    spec = SPECS[name]
    schema = schema_dict(spec.schema)
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    namespace = schema.get("namespace", "")
    names = {b["name"] if "." in b["name"] else f"{b.get('namespace', namespace)}.{b['name']}" for b in payload["type"]}
    assert set(spec.event_types.values()) == names


def test_truth_records_written_before_injected_read_as_not_injected():
    """truth.injected and truth.episode_id have defaults: a Truth written before both reads as such, no episode."""
    added = ("injected", "episode_id")
    previous = {**REFERENCE_TRUTH, "fields": [f for f in REFERENCE_TRUTH["fields"] if f["name"] not in added]}
    assert len(previous["fields"]) == len(REFERENCE_TRUTH["fields"]) - 2
    old = {
        "is_anomaly": True,
        "pattern": "fraud",
        "risk_level": "high",
        "scenario": "fraud_burst",
        "phase": "burst",
        "drift_progress": 0.0,
        "disorder": None,
        "delay_ms": 0,
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(previous), old)
    buffer.seek(0)
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(previous), fastavro.parse_schema(REFERENCE_TRUTH))
    assert read == {**old, "injected": False, "episode_id": None}
