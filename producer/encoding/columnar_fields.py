"""Field encoders of the columnar Avro encoder: one column of a Part's rows into the pools, by Avro type.

Each field takes its column in any convention of producer.domains.common.columns. A shared value
(a scalar) is encoded once and repeated; a column of the type's natural kind (int64 for a long,
float64 for a double, str for a string, Micros, Decimals, a dict of columns for a record, a list
with None for a nullable field) goes to the pools; anything else is encoded value by value with
the per-record encoder's own code for the field's type (producer.encoding.compiled), from the
values Part.events() would hold, so the bytes (or the error) are the per-record encoder's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np

from producer.domains.common.columns import Decimals, Micros, Rows, values
from producer.encoding.columnar_pools import I64, Block
from producer.encoding.compiled import compile_encoder, long_bytes
from producer.encoding.schemas import PRIMITIVES

_NAMED = ("record", "enum", "fixed")
_INT64_MAX = (1 << 63) - 1
_COLUMNS = (np.ndarray, list, Micros, Decimals, dict)


def const_bytes(value: int) -> bytes:
    """The Avro varint of a long (a union's branch index)."""
    return long_bytes(value)


@cache
def _value_encoder(schema_text: str) -> Any:
    """The per-record encoder's code for one value of a (standalone) type, as f({"v": value})."""
    field = {"name": "v", "type": json.loads(schema_text)}
    return compile_encoder({"type": "record", "name": "_ColumnValue", "fields": [field]})


def _take(column: Any, rows: Rows) -> Any:
    """A column's entries for `rows` (an array or a list), in its own kind."""
    if rows is None:
        return column
    if isinstance(column, np.ndarray):
        return column[rows]
    return [column[i] for i in rows.tolist()]


def _items(column: Any, rows: Rows) -> list[Any] | None:
    """The Python values of a list or object/str array column for `rows`, or None for other kinds."""
    if isinstance(column, list):
        return _take(column, rows)
    if isinstance(column, np.ndarray) and column.dtype.kind in "OU" and column.ndim == 1:
        return _take(column, rows).tolist()
    return None


def _int64(column: Any, rows: Rows) -> np.ndarray | None:
    """An int column (array or list of ints/bools) for `rows` as int64, or None when it is not one."""
    if isinstance(column, list):
        column = np.array(_take(column, rows)) if column else np.empty(0, I64)
        rows = None
    if not isinstance(column, np.ndarray) or column.ndim != 1 or column.dtype.kind not in "biu":
        return None
    if column.dtype.kind == "u" and column.dtype.itemsize == 8 and len(column) and int(column.max()) > _INT64_MAX:
        return None  # would wrap: the per-record code takes the Python int
    return _take(column, rows).astype(I64, copy=False)


class Field:
    """A field of any type: shared values once, every other column value by value (the per-record code)."""

    width = 1  # slots taken: the first holds a shared value or value-by-value bytes

    def __init__(self, slot: int, schema: Any) -> None:
        self.slot, self.schema_text = slot, json.dumps(schema, sort_keys=True)

    def encode_value(self, value: Any) -> bytes:
        """The bytes of one value, as the per-record encoder writes it (or its error)."""
        return _value_encoder(self.schema_text)({"v": value})

    def __call__(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> None:
        if not isinstance(column, _COLUMNS):
            block.consts.append((self.encode_value(column), block.cells(at, self.slot)))
        elif not self.fast(block, column, rows, at):
            data = [self.encode_value(value) for value in values(column, rows, len(at))]
            block.blobs.append((data, block.cells(at, self.slot)))

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        """Add the column to the pools if it is of a kind they take; False (nothing added) when not."""
        return False


class Constant(Field):
    """Bytes given ready (a union's branch index): the column is the bytes themselves."""

    def __init__(self, slot: int) -> None:
        super().__init__(slot, "null")

    def __call__(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> None:
        block.consts.append((column, block.cells(at, self.slot)))


class LongField(Field):
    """int, long, and timestamp-micros (from Micros too)."""

    def __init__(self, slot: int, schema: Any, timestamp: bool) -> None:
        super().__init__(slot, schema)
        self.timestamp = timestamp

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        if isinstance(column, Micros):
            if not self.timestamp:
                return False  # datetimes in a long: the per-record code raises
            column = column.values
        array = _int64(column, rows)
        if array is None:
            return False
        block.varints.append((array, block.cells(at, self.slot)))
        return True


class DoubleField(Field):
    """double from float arrays (or lists of floats)."""

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        if isinstance(column, list):
            column, rows = (np.array(_take(column, rows)) if column else np.empty(0)), None
        if not isinstance(column, np.ndarray) or column.ndim != 1 or column.dtype.kind != "f":
            return False
        if column.dtype.itemsize > 8:
            return False
        block.doubles.append((_take(column, rows).astype(np.float64, copy=False), block.cells(at, self.slot)))
        return True


class BoolField(Field):
    """boolean from bool arrays (or lists of bools)."""

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        if isinstance(column, list):
            column, rows = (np.array(_take(column, rows)) if column else np.empty(0, bool)), None
        if not isinstance(column, np.ndarray) or column.ndim != 1 or column.dtype.kind != "b":
            return False
        block.varints.append((-_take(column, rows).astype(I64), block.cells(at, self.slot)))  # -1 zig-zags to 1
        return True


class StringField(Field):
    """string and uuid (as text) from str arrays or lists of str: the length, then the UTF-8 bytes."""

    width = 2

    def __init__(self, slot: int, schema: Any, uuid: bool) -> None:
        super().__init__(slot, schema)
        self.uuid = uuid

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        items = _items(column, rows)
        if items is None or (items and set(map(type, items)) != {str}):
            return False
        pool = block.uuids if self.uuid else block.texts
        pool.append((items, block.cells(at, self.slot + 1)))
        return True


class EnumField(Field):
    """enum from str arrays or lists of symbols (an unknown symbol raises KeyError, as per record)."""

    def __init__(self, slot: int, schema: Any, symbols: list[str]) -> None:
        super().__init__(slot, schema)
        self.index = {symbol: i for i, symbol in enumerate(symbols)}

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        items = _items(column, rows)
        if items is None:
            return False
        codes = np.fromiter(map(self.index.__getitem__, items), I64, len(items))
        block.varints.append((codes, block.cells(at, self.slot)))
        return True


class DecimalField(Field):
    """bytes-decimal from Decimals (scale at most the schema's) or lists of Decimal: width, then body."""

    width = 2

    def __init__(self, slot: int, schema: Any, scale: int) -> None:
        super().__init__(slot, schema)
        self.scale = scale

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        units: np.ndarray | None
        if isinstance(column, Decimals):
            units = _int64(column.units, rows)
            if units is None or column.scale > self.scale:
                return False  # a finer scale truncates: the per-record code does it value by value
            if column.scale < self.scale:
                factor = 10 ** (self.scale - column.scale)
                if (len(units) and int(np.abs(units).max()) > _INT64_MAX // factor) or (units == -(1 << 63)).any():
                    return False
                units = units * factor
        else:
            items = _items(column, rows)
            if items is None or (items and set(map(type, items)) != {Decimal}):
                return False
            scale = self.scale
            units = _int64([int(value.scaleb(scale)) for value in items], None)
            if units is None:
                return False  # beyond int64: value by value
        block.decimals.append((units, block.cells(at, self.slot + 1)))
        return True


class RecordField(Field):
    """A record: each field from its column of a dict of columns (or a list of dicts)."""

    def __init__(self, slot: int, schema: Any, fields: list[tuple[str, Field]]) -> None:
        super().__init__(slot, schema)
        self.fields = fields

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        if isinstance(column, list):
            items = _take(column, rows)
            if items and set(map(type, items)) != {dict}:
                return False
            column, rows = {name: [item[name] for item in items] for name, _ in self.fields}, None
        if not isinstance(column, dict):
            return False
        for name, field in self.fields:
            try:
                sub = column[name]
            except KeyError:
                raise KeyError(f"no column {name!r} for record field {name!r}") from None
            field(block, sub, rows, at)
        return True


# what the per-record encoder takes in a [null, X] union, by X's kind: plain values' types and array kinds
_UNION_TYPES: dict[type[Field], tuple[set[type], str]] = {
    StringField: ({str}, "U"),
    LongField: ({int}, "iu"),
    DoubleField: ({float}, "f"),
    BoolField: ({bool}, "b"),
    DecimalField: ({Decimal}, ""),
    RecordField: ({dict}, ""),
}


class NullableField(Field):
    """A [null, X] union: the branch index, then X on the rows whose value is not None."""

    def __init__(self, slot: int, schema: Any, null_index: int, inner: Field) -> None:
        super().__init__(slot, schema)
        self.null, self.present, self.inner = null_index, 1 - null_index, inner
        self.types, self.kinds = _UNION_TYPES[type(inner)]
        self.branch = long_bytes(self.present)

    def fast(self, block: Block, column: Any, rows: Rows, at: np.ndarray) -> bool:
        inner = self.inner
        if self._all_present(column):
            block.consts.append((self.branch, block.cells(at, self.slot)))
            inner(block, column, rows, at)
            return True
        items = _items(column, rows)
        if items is None:
            return False
        mask = np.fromiter((item is not None for item in items), bool, len(items))
        present = [item for item in items if item is not None]
        if present and not set(map(type, present)) <= self.types:
            return False  # tuple notation, a UUID, a datetime...: the per-record union decides
        block.varints.append((np.where(mask, self.present, self.null).astype(I64), block.cells(at, self.slot)))
        if present:
            inner(block, present, None, at[mask])
        return True

    def _all_present(self, column: Any) -> bool:
        """A column of a kind that holds no None and that the union's branch takes."""
        inner = self.inner
        if isinstance(column, dict):
            return isinstance(inner, RecordField)
        if isinstance(column, Micros):
            return isinstance(inner, LongField) and inner.timestamp
        if isinstance(column, Decimals):
            return isinstance(inner, DecimalField)
        return isinstance(column, np.ndarray) and column.dtype.kind in self.kinds


class Planner:
    """Walks a stream schema into field encoders, resolving named types as the per-record compiler does."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named = dict(_definitions(schema, ""))  # full name -> (definition, its namespace)
        self.slots = 0
        self.planning: set[str] = set()  # records being planned: a reference back to one is recursive

    def take(self, count: int) -> int:
        """The first of `count` new slots."""
        self.slots += count
        return self.slots - count

    def constant(self) -> Field:
        """A field whose column is its bytes, ready."""
        return Constant(self.take(1))

    def column(self, schema: Any, namespace: str) -> Field:
        """The encoder of one field's column."""
        if isinstance(schema, str):
            full = self.resolve(schema, namespace)
            if full is None:
                return self.primitive(schema, {"type": schema}, namespace)
            definition, at = self.named[full]
            return self.definition(definition, at, schema)
        if isinstance(schema, list):
            return self.union(schema, namespace)
        if schema["type"] in _NAMED:
            return self.definition(schema, namespace, schema)
        return self.primitive(schema["type"], schema, namespace)

    def resolve(self, name: str, namespace: str) -> str | None:
        """The full name a type name refers to, or None for a primitive."""
        if name in PRIMITIVES:
            return None
        if name in self.named:
            return name
        qualified = f"{namespace}.{name}" if namespace else name
        return qualified if qualified in self.named else None

    def definition(self, schema: dict[str, Any], namespace: str, used: Any) -> Field:
        """A record, enum or fixed (`used`: how the field names it, for the value-by-value code)."""
        full = _full_name(schema, namespace)
        standalone = self.standalone(used, namespace)
        if schema["type"] == "enum":
            return EnumField(self.take(1), standalone, schema["symbols"])
        if schema["type"] == "fixed" or full in self.planning:
            return Field(self.take(1), standalone)  # fixed, or a recursive record: value by value
        self.planning.add(full)
        slot = self.take(1)  # holds the record's bytes when they are written value by value
        inner = full.rpartition(".")[0]
        fields = [(field["name"], self.column(field["type"], inner)) for field in schema["fields"]]
        self.planning.discard(full)
        return RecordField(slot, standalone, fields)

    def primitive(self, kind: str, schema: dict[str, Any], namespace: str) -> Field:
        """A primitive type, with its logical type when the pools take it."""
        logical = schema.get("logicalType")
        standalone = self.standalone(schema, namespace)
        if kind in ("int", "long") and logical in (None, "timestamp-micros"):
            return LongField(self.take(1), standalone, logical is not None)
        if kind == "string":
            return StringField(self.take(2), standalone, logical == "uuid")
        if kind == "double":
            return DoubleField(self.take(1), standalone)
        if kind == "boolean":
            return BoolField(self.take(1), standalone)
        if kind == "bytes" and logical == "decimal":
            return DecimalField(self.take(2), standalone, int(schema.get("scale", 0)))
        return Field(self.take(1), standalone)  # null, float, bytes, millis, date, arrays, maps: value by value

    def union(self, branches: list[Any], namespace: str) -> Field:
        """[null, X] with X inline and of a kind the pools take; any other union value by value."""
        standalone = self.standalone(branches, namespace)
        if len(branches) == 2 and "null" in branches:
            null_index = branches.index("null")
            branch = branches[1 - null_index]
            # a record named by reference takes only tuple notation in the per-record encoder
            if not isinstance(branch, str) or self.resolve(branch, namespace) is None:
                slot = self.take(1)
                inner = self.column(branch, namespace)
                if type(inner) in _UNION_TYPES:
                    return NullableField(slot, standalone, null_index, inner)
                self.slots = slot  # not taken: the slots go to the value-by-value field
        return Field(self.take(1), standalone)

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
