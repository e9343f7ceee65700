"""Named types of an Avro schema: where each is defined, and sub-schemas made to compile on their own."""

from __future__ import annotations

from typing import Any

from producer.encoding.schemas import PRIMITIVES

_NAMED = ("record", "enum", "fixed")


class SchemaNames:
    """The named types a stream schema defines, resolved as the per-record compiler resolves them."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named = dict(_definitions(schema, ""))  # full name -> (definition, its namespace)

    def resolve(self, name: str, namespace: str) -> str | None:
        """The full name a type name refers to, or None for a primitive."""
        if name in PRIMITIVES:
            return None
        if name in self.named:
            return name
        qualified = f"{namespace}.{name}" if namespace else name
        return qualified if qualified in self.named else None

    def branch_name(self, branch: Any, namespace: str) -> str:
        """A union branch's full name (named types) or type name."""
        if isinstance(branch, str):
            return branch if branch in PRIMITIVES else (self.resolve(branch, namespace) or branch)
        return _full_name(branch, namespace) if branch["type"] in _NAMED else branch["type"]

    def standalone(self, schema: Any, namespace: str) -> Any:
        """`schema` with the named types it refers to defined in it, fully qualified, so it compiles alone."""
        return _standalone(schema, namespace, self.named, set())


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _definitions(schema: Any, namespace: str) -> list[tuple[str, tuple[dict[str, Any], str]]]:
    """Named types defined in `schema` (itself included): (full name, (definition, its namespace))."""
    if isinstance(schema, list):
        return [found for branch in schema for found in _definitions(branch, namespace)]
    if not isinstance(schema, dict):
        return []
    kind = schema["type"]
    if kind in ("array", "map"):
        return _definitions(schema["items" if kind == "array" else "values"], namespace)
    if kind not in _NAMED:
        return []
    full = _full_name(schema, namespace)
    out = [(full, (schema, namespace))]
    if kind == "record":
        inner = full.rpartition(".")[0]
        out += [found for field in schema["fields"] for found in _definitions(field["type"], inner)]
    return out


def _standalone(schema: Any, namespace: str, named: dict[str, tuple[dict[str, Any], str]], defined: set[str]) -> Any:
    if isinstance(schema, list):
        return [_standalone(branch, namespace, named, defined) for branch in schema]
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return schema
        full = schema if schema in named or not namespace else f"{namespace}.{schema}"
        if full not in named:
            return schema
        if full in defined:
            return full
        definition, at = named[full]
        return _standalone(definition, at, named, defined)
    kind = schema["type"]
    if kind in _NAMED:
        full = _full_name(schema, namespace)
        defined.add(full)
        inner = full.rpartition(".")[0]
        out = {**schema, "name": full, "namespace": inner}
        if kind == "record":
            out["fields"] = [{**f, "type": _standalone(f["type"], inner, named, defined)} for f in schema["fields"]]
        return out
    if kind in ("array", "map"):
        key = "items" if kind == "array" else "values"
        return {**schema, key: _standalone(schema[key], namespace, named, defined)}
    return schema
