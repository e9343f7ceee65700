"""Access to the Avro schemas shipped under schemas/ (package data in a wheel), composed from their parts.

A stream's file (`<domain>/<stream>.avsc`) declares only what is its own: the record's name,
namespace and doc, the docs of some envelope fields, and the payload union. Its `envelope` key
names the template (`common/envelope.avsc`) whose fields, in order, wrap that payload. A named
type a schema refers to by name without defining it, such as `datagen.Truth`, is defined once in
`common/<full name>.avsc` and written out in full where it is first used. The composed schema is
the one registered and written, exactly as when every file spelled it all out by hand.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from producer._data import bundled_dir
from producer.errors import DatagenError

TRUTH_RECORD = "datagen.Truth"
GROUND_TRUTH_SCHEMA = "common/ground_truth.avsc"
LABELS_SCHEMA = "common/labels.avsc"  # <prefix>labels: delayed fraud labels (producer.encoding.delayed_labels)
SHARED_TYPES_DIR = "common"  # where `<full name>.avsc` defines a named type shared by several schemas
PAYLOAD_FIELD = "payload"  # the envelope field whose empty union the stream's payload records fill
# what a stream file may declare; everything else comes from its envelope
STREAM_KEYS = frozenset({"type", "name", "namespace", "doc", "envelope", "envelope_docs", "payload"})
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def schemas_dir() -> Path:
    """The schemas folder: $DATAGEN_SCHEMAS_DIR, else the one datagen ships (package data or checkout)."""
    override = os.environ.get("DATAGEN_SCHEMAS_DIR")
    if override:
        return Path(override)
    shipped = bundled_dir("schemas")
    if shipped.is_dir():
        return shipped
    raise DatagenError(f"cannot find the schemas folder (looked in {shipped}); set DATAGEN_SCHEMAS_DIR")


def schema_text(relative: str) -> str:
    """The JSON text of one schema, composed and normalised (compact, key order kept): what is registered."""
    return _composed_text(schemas_dir(), relative)


def schema_dict(relative: str) -> dict[str, Any]:
    """One schema, composed, as a fresh dict."""
    return json.loads(schema_text(relative))


@cache
def _composed_text(folder: Path, relative: str) -> str:
    """schema_text for one folder (cached per folder, so a changed $DATAGEN_SCHEMAS_DIR is read afresh)."""
    return json.dumps(compose(folder, relative), separators=(",", ":"))


def compose(folder: Path, relative: str) -> dict[str, Any]:
    """The full schema of the file `relative` under `folder`: its envelope and shared named types filled in."""
    schema = _read(folder, relative)
    if "envelope" in schema:
        schema = _wrap_in_envelope(folder, relative, schema)
    return _inline_shared(folder, schema, "", set())


def _read(folder: Path, relative: str) -> dict[str, Any]:
    """One schema file as JSON (an object), with the file named when it cannot be read."""
    path = folder / relative
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatagenError(f"schema {relative}: cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DatagenError(f"schema {relative}: expected a JSON object, found {type(data).__name__}")
    return data


def _wrap_in_envelope(folder: Path, relative: str, stream: dict[str, Any]) -> dict[str, Any]:
    """A stream file's record: its own keys, then the envelope's fields with its payload and field docs."""
    extra = sorted(set(stream) - STREAM_KEYS)
    if extra:
        raise DatagenError(
            f"schema {relative}: unexpected keys {', '.join(extra)} (a stream file declares only "
            f"{', '.join(sorted(STREAM_KEYS))}; the fields come from its envelope {stream['envelope']})"
        )
    payload = stream.get(PAYLOAD_FIELD)
    if not isinstance(payload, list) or not payload:
        raise DatagenError(f"schema {relative}: expected payload, a union of the stream's records, found {payload!r}")
    template = _read(folder, stream["envelope"]).get("fields")
    if not isinstance(template, list) or [f["type"] for f in template if f["name"] == PAYLOAD_FIELD] != [[]]:
        raise DatagenError(f"schema {stream['envelope']}: expected one field {PAYLOAD_FIELD!r} with the empty union []")
    docs = stream.get("envelope_docs", {})
    unknown = sorted(set(docs) - {f["name"] for f in template})
    if unknown:
        raise DatagenError(f"schema {relative}: envelope_docs names no envelope field: {', '.join(unknown)}")
    fields = []
    for slot in template:
        field = dict(slot)
        if field["name"] == PAYLOAD_FIELD:
            field["type"] = payload
        if field["name"] in docs:
            field["doc"] = docs[field["name"]]  # after "type", where a hand-written field has it
        fields.append(field)
    own = {key: value for key, value in stream.items() if key not in ("envelope", "envelope_docs", PAYLOAD_FIELD)}
    return {**own, "fields": fields}


def _full_name(name: str, namespace: str) -> str:
    """A type name as Avro resolves it: dotted names are full, others take the enclosing namespace."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _inline_shared(folder: Path, node: Any, namespace: str, defined: set[str]) -> Any:
    """node with the first reference to each shared named type replaced by its definition."""
    if isinstance(node, str):
        full = _full_name(node, namespace)
        if node in PRIMITIVES or full in defined:
            return node
        shared = _shared_type(folder, full)
        if shared is None:
            return node  # defined elsewhere in the schema, or unknown: fastavro names it when parsing
        if shared.get("namespace") == namespace:
            shared.pop("namespace")  # written as a hand-written schema would: relative to where it sits
        return _inline_shared(folder, shared, namespace, defined)
    if isinstance(node, list):
        return [_inline_shared(folder, branch, namespace, defined) for branch in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        full = _full_name(node["name"], node.get("namespace", namespace))
        defined.add(full)
        if kind in ("enum", "fixed") or not isinstance(node.get("fields"), list):
            return node  # nothing inside to resolve (or a malformed record fastavro will name)
        inner = full.rpartition(".")[0]
        fields = [{**f, "type": _inline_shared(folder, f["type"], inner, defined)} for f in node["fields"]]
        return {**node, "fields": fields}
    if kind == "array":
        return {**node, "items": _inline_shared(folder, node["items"], namespace, defined)}
    if kind == "map":
        return {**node, "values": _inline_shared(folder, node["values"], namespace, defined)}
    return node  # a primitive with attributes, such as {"type": "string", "logicalType": "uuid"}


def _shared_type(folder: Path, full: str) -> dict[str, Any] | None:
    """The definition of a shared named type from common/<full name>.avsc, or None when there is none."""
    relative = f"{SHARED_TYPES_DIR}/{full}.avsc"
    if not (folder / relative).is_file():
        return None
    definition = _read(folder, relative)
    declared = _full_name(str(definition.get("name", "")), str(definition.get("namespace", "")))
    if declared != full:
        raise DatagenError(f"schema {relative}: expected the named type {full}, found {declared or 'no name'}")
    return definition
