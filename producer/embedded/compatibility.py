"""Schema compatibility judged as Confluent's registry judges it, on top of Apache avro's checker.

The reader/writer check itself is ``avro.compatibility`` (the Python port of Avro's
``SchemaCompatibility``, which Confluent's registry also uses); this module only picks
which pairs to check for a compatibility level and words the result as Confluent does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import avro.errors
import avro.name
import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)

DEFAULT_COMPATIBILITY = "BACKWARD"
COMPATIBILITY_LEVELS = frozenset(
    {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
)
_NEW, _OLD = "new", "old"
_MAX_SCHEMA_IN_MESSAGE = 10 * 1024  # Confluent truncates the old schema it quotes at 10 KiB

# Confluent's wording per incompatibility; the two %s are the reader's and the writer's role
_DESCRIPTIONS = {
    SchemaIncompatibilityType.fixed_size_mismatch: (
        "The size of FIXED type field at path '{path}' in the %s schema does not match with the %s schema"
    ),
    SchemaIncompatibilityType.type_mismatch: (
        "The type (path '{path}') of a field in the %s schema does not match with the %s schema"
    ),
    SchemaIncompatibilityType.name_mismatch: "The name of the schema has changed (path '{path}')",
    SchemaIncompatibilityType.missing_enum_symbols: (
        "The %s schema is missing enum symbols '{info}' at path '{path}' in the %s schema"
    ),
    SchemaIncompatibilityType.missing_union_branch: (
        "The %s schema is missing a type inside a union field at path '{path}' in the %s schema"
    ),
    SchemaIncompatibilityType.reader_field_missing_default_value: (
        "The field '{info}' at path '{path}' in the %s schema has no default value and is missing in the %s schema"
    ),
}


@dataclass(frozen=True)
class SchemaText:
    """A schema's JSON text with the texts it references, dependencies first."""

    text: str
    referenced: tuple[str, ...] = ()
    version: int | None = None


def parse(schema: SchemaText) -> avro.schema.Schema:
    """Parse with Apache avro, referenced named types registered first; raises ValueError when invalid."""
    names = avro.name.Names()
    try:
        for text in schema.referenced:
            avro.schema.make_avsc_object(json.loads(text), names)
        return avro.schema.make_avsc_object(json.loads(schema.text), names)
    except (avro.errors.AvroException, ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc


def incompatibilities(level: str, new: avro.schema.Schema, previous: Sequence[SchemaText]) -> list[str]:
    """Confluent's messages for why ``new`` may not follow ``previous`` (oldest first); empty if it may."""
    if level == "NONE" or not previous:
        return []
    mode = level.removesuffix("_TRANSITIVE")
    # non-transitive levels look at the latest only; transitive ones at every version, newest first
    targets = list(reversed(previous)) if level.endswith("_TRANSITIVE") else [previous[-1]]
    for old in targets:
        messages = _against(mode, new, old)
        if messages:
            return [*messages, f"{{validateFields: 'false', compatibility: '{level}'}}"]
    return []


def _against(mode: str, new: avro.schema.Schema, old: SchemaText) -> list[str]:
    """One old version checked as BACKWARD (new reads old), FORWARD (old reads new) or FULL (both)."""
    try:
        parsed_old = parse(old)
    except ValueError as exc:
        return _quote_old([f"Unexpected exception during compatibility check: {exc}"], old)
    messages: list[str] = []
    if mode in ("FORWARD", "FULL"):
        forward = _differences(parsed_old, new, _OLD, _NEW)
        # Confluent quotes the old schema after a FORWARD failure, but not after FULL's forward half
        messages += _quote_old(forward, old) if mode == "FORWARD" else forward
    if mode in ("BACKWARD", "FULL"):
        messages += _quote_old(_differences(new, parsed_old, _NEW, _OLD), old)
    return messages


def _differences(
    reader: avro.schema.Schema, writer: avro.schema.Schema, reader_role: str, writer_role: str
) -> list[str]:
    """Whether ``reader`` can read what ``writer`` wrote, as Confluent's ``{errorType: ...}`` messages."""
    try:
        result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    except Exception as exc:  # Confluent reports a checker failure as an incompatibility too
        return [f"Unexpected exception during compatibility check: {exc}"]
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    # avro keeps messages and locations as unordered sets; with one incompatibility they pair
    # exactly, with several each message names all of them rather than guess a pairing
    path = ", ".join(sorted(result.locations))
    info = ", ".join(sorted(result.messages))
    messages = []
    for kind in dict.fromkeys(result.incompatibilities):
        description = _DESCRIPTIONS[kind].format(path=path, info=info)
        description = description.replace("%s", reader_role, 1).replace("%s", writer_role, 1)
        messages.append(f"{{errorType:'{kind.name.upper()}', description:'{description}', additionalInfo:'{info}'}}")
    return messages


def _quote_old(messages: list[str], old: SchemaText) -> list[str]:
    """Append the old version and schema to a non-empty list of messages, as Confluent does."""
    if not messages:
        return messages
    quoted = []
    if old.version is not None:
        quoted.append(f"{{oldSchemaVersion: {old.version}}}")
    compact = _compact(old.text)
    if len(compact) <= _MAX_SCHEMA_IN_MESSAGE:
        quoted.append(f"{{oldSchema: '{compact}'}}")
    else:
        quoted.append(f"{{oldSchema: <truncated> '{compact[:_MAX_SCHEMA_IN_MESSAGE]}...'}}")
    return [*messages, *quoted]


def _compact(text: str) -> str:
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return text
