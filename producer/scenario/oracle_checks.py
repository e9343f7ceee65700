"""Checks of a scenario's `oracle:` blocks that need the streams' schemas: a known topic, a numeric sum field."""

from __future__ import annotations

from typing import Any

from producer.domains import output_specs
from producer.encoding.schema_names import SchemaNames
from producer.errors import ConfigError, Plain, UsageError
from producer.scenario.model import Scenario

# Avro types whose values add up exactly as Python numbers (int, float or Decimal)
_NUMERIC = frozenset({"int", "long", "float", "double"})
_NOT_A_NUMBER = frozenset({"timestamp-millis", "timestamp-micros", "date", "time-millis", "time-micros", "uuid"})


def check_oracles(source: str, scenario: Scenario) -> None:
    """ConfigError (exit 2, with the field path) for an oracle over an unknown topic or a non-numeric field."""
    streams = [name for name, config in scenario.streams.items() if config.weight > 0]
    specs = {spec.name: spec for spec in output_specs(streams)}
    for i, oracle in enumerate(scenario.oracle):
        spec = specs.get(oracle.stream)
        if spec is None:
            known = ", ".join(sorted(specs))
            raise ConfigError(
                source, f"oracle[{i}].stream", f"a topic this scenario writes (one of: {known})", oracle.stream
            )
        if oracle.sum is None:
            continue
        from producer.encoding.schemas import schema_dict  # reads the schema files: only when a sum is declared

        found = leaf_types(schema_dict(spec.schema), oracle.sum.split("."))
        if not found:
            raise ConfigError(source, f"oracle[{i}].sum", f"a field of {oracle.stream}'s events", oracle.sum)
        odd = sorted({describe(t) for t in found if not is_numeric(t)})
        if odd:
            found_text = Plain(f"{oracle.sum!r} of Avro type {odd[0]}")
            raise ConfigError(
                source, f"oracle[{i}].sum", "a numeric field (int, long, float, double or decimal)", found_text
            )


def check_oracle_sharding(scenario: Scenario, processes: int) -> None:
    """UsageError when an oracle groups across entity keys while shards or workers split those keys."""
    if processes <= 1:
        return
    for oracle in scenario.oracle:
        if oracle.group_by != "key":
            raise UsageError(
                f"oracle {oracle.name}: group_by {oracle.group_by} spans every shard's events, so {processes} "
                "processes (--shard/--workers) cannot compute it exactly; use group_by: key or one process"
            )


def leaf_types(schema: Any, path: list[str]) -> list[Any]:
    """The Avro types found at a dotted field path, across every branch of the unions on the way."""
    found: list[Any] = []
    _walk(schema, path, SchemaNames(schema), "", found)
    return found


def _walk(schema: Any, path: list[str], names: SchemaNames, namespace: str, found: list[Any]) -> None:
    """Follow `path` through records (and unions of them), appending the types at its end."""
    if isinstance(schema, str) and (full := names.resolve(schema, namespace)) is not None:
        schema, namespace = names.named[full]
    if isinstance(schema, list):
        for branch in schema:
            if branch != "null":
                _walk(branch, path, names, namespace, found)
        return
    if not path:
        found.append(schema)
        return
    if isinstance(schema, dict) and schema.get("type") == "record":
        inner = names.branch_name(schema, namespace).rpartition(".")[0]  # a record's fields live in its namespace
        for field in schema["fields"]:
            if field["name"] == path[0]:
                _walk(field["type"], path[1:], names, inner, found)


def is_numeric(schema: Any) -> bool:
    """An Avro int, long, float, double, or bytes/fixed with logicalType decimal."""
    if isinstance(schema, str):
        return schema in _NUMERIC
    if isinstance(schema, dict):
        if schema.get("logicalType") == "decimal":
            return True
        if schema.get("logicalType") in _NOT_A_NUMBER:
            return False
        return isinstance(schema.get("type"), str) and schema["type"] in _NUMERIC
    return False


def describe(schema: Any) -> str:
    """A short name of an Avro type for an error message."""
    if isinstance(schema, dict):
        return str(schema.get("logicalType") or schema.get("name") or schema.get("type"))
    return str(schema)
