"""Every shipped schema parses, follows the envelope convention and defines the same Truth record."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest

from producer.domains import SPECS
from producer.encoding.schemas import schema_dict, schemas_dir

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
STREAM_SCHEMAS = sorted(p for p in schemas_dir().rglob("*.avsc") if p.parent.name != "common")


def find_truth(node):
    """The datagen.Truth record definition inside a schema, wherever it is."""
    if isinstance(node, dict):
        if node.get("name") == "Truth" and node.get("type") == "record":
            return node
        for value in node.values():
            found = find_truth(value)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = find_truth(value)
            if found:
                return found
    return None


REFERENCE_TRUTH = find_truth(schema_dict("common/ground_truth.avsc"))


@pytest.mark.parametrize("path", STREAM_SCHEMAS, ids=lambda p: str(p.relative_to(schemas_dir())))
def test_stream_schema_follows_the_envelope(path: Path):
    schema = json.loads(path.read_text())
    fastavro.parse_schema(schema)
    assert [f["name"] for f in schema["fields"]] == ENVELOPE
    truth = find_truth(schema)
    assert truth is not None and {k: v for k, v in truth.items() if k != "namespace"} == {
        k: v for k, v in REFERENCE_TRUTH.items() if k != "namespace"
    }


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_event_types_name_records_of_the_payload_union(name: str):
    spec = SPECS[name]
    schema = schema_dict(spec.schema)
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    namespace = schema.get("namespace", "")
    names = {b["name"] if "." in b["name"] else f"{b.get('namespace', namespace)}.{b['name']}" for b in payload["type"]}
    assert set(spec.event_types.values()) == names


def test_truth_records_written_before_injected_read_as_not_injected():
    """truth.injected has a default: a Truth written under the previous record reads as injected=false."""
    previous = {**REFERENCE_TRUTH, "fields": [f for f in REFERENCE_TRUTH["fields"] if f["name"] != "injected"]}
    assert len(previous["fields"]) == len(REFERENCE_TRUTH["fields"]) - 1
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
    assert read == {**old, "injected": False}
