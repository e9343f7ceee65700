"""Avro heads of whole Parts: each field's bytes for every row in a few array operations, then one join per row.

A head is the Avro bytes of every envelope field before the truth (payload included); a body is
head + truth (producer.encoding.columnar.encode_truths). For each event type the schema is walked
once into writers; a writer turns one column (any convention of producer.domains.common.columns)
into the field's bytes for every row: a list of bytes objects, or one bytes object when every row
shares the value. Adjacent shared pieces are folded, and each row's pieces are joined in C.

Fixed-width values (doubles, uuids, booleans, enum indices) come out of numpy as bytes objects
through a void view; varints are grouped by their length. Columns of another shape (Python lists
of other types, nullable values, arrays, maps) go value by value through the per-record encoder's
own code (producer.encoding.compiled), so their bytes, and their errors, are its.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np

from producer.domains.common.columns import Decimals, Micros, Part, values
from producer.encoding.compiled import _LEN, compile_encoder, long_bytes
from producer.encoding.schema_names import SchemaNames

Pieces = list[Any]  # per field: a list of bytes (one per row) or one bytes shared by every row
Writer = Callable[[Any, int, Pieces], None]
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_U8 = np.uint8
ENVELOPE: dict[str, Callable[[Part], Any]] = {
    "event_id": lambda part: part.event_id,
    "event_type": lambda part: part.event_type,
    "event_version": lambda part: part.event_version,
    "timestamp": lambda part: Micros(part.time_us),
    "source_service": lambda part: part.source_service,
    "correlation_id": lambda part: part.correlation_id,
}


class HeadEncoders:
    """One stream's head encoders, one per event type."""

    def __init__(self, schema: dict[str, Any], record_names: dict[str, str]) -> None:
        self._names = SchemaNames(schema)
        self._namespace = schema.get("namespace", "")
        fields = schema["fields"]
        if fields[-1]["name"] != "truth":
            raise ValueError(f"schema {schema.get('name')}: expected 'truth' as its last field")
        self.plans = {event_type: self._plan(fields[:-1], record) for event_type, record in record_names.items()}

    def encode_heads(self, part: Part) -> list[bytes]:
        """The head of every row of `part`."""
        n = len(part)
        pieces: Pieces = []
        for get, write in self.plans[part.event_type]:
            write(get(part), n, pieces)
        return _join(pieces, n)

    def _plan(self, fields: list[dict[str, Any]], record: str) -> list[tuple[Callable[[Part], Any], Writer]]:
        plan: list[tuple[Callable[[Part], Any], Writer]] = []
        for spec in fields:
            name = spec["name"]
            if name == "payload":
                branches = [self._names.branch_name(b, self._namespace) for b in spec["type"]]
                index = branches.index(record)
                plan.append((_payload, _prefixed(long_bytes(index), self.writer(spec["type"][index], self._namespace))))
            else:
                plan.append((ENVELOPE[name], self.writer(spec["type"], self._namespace)))
        return plan

    def writer(self, schema: Any, namespace: str) -> Writer:
        """The writer of one field's column under `schema`."""
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            full = self._names.resolve(schema, namespace)
            if full is None:
                raise ValueError(f"unknown Avro type {schema!r}")
            definition, at = self._names.named[full]
            return self.writer(definition, at)
        kind = schema if isinstance(schema, str) else schema.get("type") if isinstance(schema, dict) else "union"
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        fallback = self._fallback(schema, namespace)
        if kind == "union" and len(schema) == 2 and "null" in schema and "string" in schema:
            return _optional(schema.index("null"), _strings(self._fallback("string", namespace)), fallback)
        if kind == "record":
            inner = _inner(schema, namespace)
            fields = [(f["name"], self.writer(f["type"], inner)) for f in schema["fields"]]
            return _record(fields, fallback)
        if kind == "string":
            return _strings(fallback)
        if kind in ("int", "long"):
            return _longs(fallback) if logical in (None, "timestamp-micros") else fallback
        if kind == "double":
            return _doubles(fallback)
        if kind == "boolean":
            return _booleans(fallback)
        if kind == "enum":
            return _enum(schema["symbols"], fallback)
        if kind == "bytes" and logical == "decimal":
            return _decimals(int(schema.get("scale", 0)), fallback)
        return fallback

    def _fallback(self, schema: Any, namespace: str) -> Writer:
        """Value by value with the per-record encoder's code (Python values as Part.events() holds them)."""
        standalone = self._names.standalone(schema, namespace)
        record = {
            "type": "record",
            "name": "_Value",
            "namespace": namespace,
            "fields": [{"name": "v", "type": standalone}],
        }
        encode = compile_encoder(record)

        def write(column: Any, n: int, pieces: Pieces) -> None:
            if not isinstance(column, np.ndarray | list | Micros | Decimals | dict):
                pieces.append(encode({"v": column}))
                return
            pieces.append([encode({"v": value}) for value in values(column, None, n)])

        return write


def _payload(part: Part) -> Any:
    return part.payload


def _inner(schema: dict[str, Any], namespace: str) -> str:
    name = schema["name"]
    full = name if "." in name else f"{schema.get('namespace', namespace)}.{name}"
    return full.rsplit(".", 1)[0]


def _prefixed(prefix: bytes, write: Writer) -> Writer:
    def prefixed(column: Any, n: int, pieces: Pieces) -> None:
        pieces.append(prefix)
        write(column, n, pieces)

    return prefixed


def _record(fields: list[tuple[str, Writer]], fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        if not isinstance(column, dict):
            fallback(column, n, pieces)
            return
        for name, field in fields:
            field(column[name], n, pieces)

    return write


def same_value(a: Any, b: Any) -> bool:
    """Alike as Avro writes them: same type and spelling (0.0 and -0.0, 1 and True differ)."""
    return a is b or (type(a) is type(b) and a == b and repr(a) == repr(b))


def _shared(column: Any) -> bool:
    return not isinstance(column, np.ndarray | list | Micros | Decimals | dict)


def _strings(fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        items = column.tolist() if isinstance(column, np.ndarray) else column
        if not isinstance(items, list) or (items and set(map(type, items)) != {str}):
            fallback(column, n, pieces)
            return
        lengths = set(map(len, items))
        if len(lengths) == 1 and 0 < (size := lengths.pop()) < 64:  # e.g. uuids: one matrix, no per-value bytes
            text = "".join(items).encode()
            if len(text) == size * n:  # ASCII: each character one byte
                matrix = np.empty((n, size + 1), _U8)
                matrix[:, 0] = 2 * size  # the zig-zag varint of the length, one byte below 64
                matrix[:, 1:] = np.frombuffer(text, _U8).reshape(n, size)
                pieces.append(matrix)
                return
        data = list(map(str.encode, items))
        sizes = list(map(len, data))
        if max(sizes, default=0) >= len(_LEN):
            fallback(column, n, pieces)
            return
        pieces.append(list(map(_LEN.__getitem__, sizes)))
        pieces.append(data)

    return write


def _longs(fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        array = column.values if isinstance(column, Micros) else column
        if isinstance(array, list) and array and set(map(type, array)) == {int}:
            with contextlib.suppress(OverflowError):  # beyond a long: the per-value code raises as per record
                array = np.array(array, dtype=np.int64)
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "iu" or len(array) != n:
            fallback(column, n, pieces)
            return
        pieces.append(_varint_piece(array.astype(np.int64, copy=False)))

    return write


_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)  # zig-zagged: k+1 bytes from 2^(7k)


def _varint_piece(array: np.ndarray) -> np.ndarray | list[bytes]:
    """The zig-zag varint of each int64: a matrix when they are all as long (timestamps, small counts), else bytes."""
    z = ((array << 1) ^ (array >> 63)).view(np.uint64)
    if not len(z):
        return []
    if int(z.max()) < 128:
        return z.astype(_U8).reshape(-1, 1)
    sizes = 1 + np.searchsorted(_LIMITS, z, side="right")
    width = int(sizes.max())
    digits = ((z[:, None] >> _SHIFTS[:width]) & np.uint64(0x7F)).astype(_U8)
    digits |= np.where(_STEPS[:width] < (sizes - 1)[:, None], _U8(0x80), _U8(0))  # more digits follow
    if int(sizes.min()) == width:
        return digits
    return _rows_of(digits, sizes)


_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_STEPS = np.arange(10)


def _rows_of(matrix: np.ndarray, sizes: np.ndarray) -> list[bytes]:
    """Row i's first sizes[i] bytes of `matrix`, as bytes objects, grouped by size through void views."""
    first = int(sizes[0]) if len(sizes) else 0
    if not len(sizes) or (sizes == first).all():
        return _void(matrix[:, :first], first)
    out = np.empty(len(sizes), dtype=object)
    for size in np.unique(sizes).tolist():
        at = np.flatnonzero(sizes == size)
        out[at] = _void(matrix[at, :size], size)
    return out.tolist()


def _void(matrix: np.ndarray, width: int) -> list[bytes]:
    if width == 0:
        return [b""] * len(matrix)
    return np.ascontiguousarray(matrix).view(f"V{width}").reshape(-1).tolist()


def _doubles(fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        if not isinstance(column, np.ndarray) or column.dtype != np.float64 or len(column) != n:
            fallback(column, n, pieces)
            return
        pieces.append(column.astype("<f8").view(_U8).reshape(n, 8))

    return write


def _booleans(fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        if not isinstance(column, np.ndarray) or column.dtype != np.bool_ or len(column) != n:
            fallback(column, n, pieces)
            return
        pieces.append(column.view(_U8).reshape(n, 1))

    return write


def _enum(symbols: list[str], fallback: Writer) -> Writer:
    table = {symbol: long_bytes(i) for i, symbol in enumerate(symbols)}

    def write(column: Any, n: int, pieces: Pieces) -> None:
        items = column.tolist() if isinstance(column, np.ndarray) else column
        if not isinstance(items, list) or not set(items) <= table.keys():
            fallback(column, n, pieces)
            return
        pieces.append(list(map(table.__getitem__, items)))

    return write


_DECIMAL_LIMITS = np.array([1 << (8 * k - 1) for k in range(1, 8)], dtype=np.int64)  # |v| needs k+1 bytes from


def _decimals(scale: int, fallback: Writer) -> Writer:
    def write(column: Any, n: int, pieces: Pieces) -> None:
        if not isinstance(column, Decimals) or column.scale != scale or column.units.dtype.kind != "i":
            fallback(column, n, pieces)
            return
        units = column.units.astype(np.int64, copy=False)
        magnitude = np.abs(units)
        if len(units) and int(magnitude.min()) < 0:  # -2^63 has no magnitude in int64
            fallback(column, n, pieces)
            return
        sizes = 1 + np.searchsorted(_DECIMAL_LIMITS, magnitude, side="right")  # fastavro: magnitude bits + sign
        big = units.astype(">i8").view(_U8).reshape(-1, 8)
        width = int(sizes.max()) if len(sizes) else 1
        tail = big[:, 8 - width :]  # the low bytes, sign-extended; each row keeps its last sizes[i]
        shifted = np.empty_like(tail)
        for size in np.unique(sizes).tolist():
            at = np.flatnonzero(sizes == size)
            shifted[at, :size] = tail[at, width - size :]
        pieces.append(list(map(_LEN.__getitem__, sizes.tolist())))
        pieces.append(_rows_of(shifted, sizes))

    return write


def _optional(null_index: int, inner: Writer, fallback: Writer) -> Writer:
    """A `[null, string]` union: the branch index, then the string on the rows that hold one."""
    null, value = long_bytes(null_index), long_bytes(1 - null_index)

    def write(column: Any, n: int, pieces: Pieces) -> None:
        if not isinstance(column, np.ndarray | list):
            fallback(column, n, pieces)
            return
        items = column.tolist() if isinstance(column, np.ndarray) else column
        present = [i for i, v in enumerate(items) if v is not None]
        if present and {type(items[i]) for i in present} != {str}:  # the union's own code picks (or refuses) a branch
            fallback(column, n, pieces)
            return
        if len(present) == n:
            pieces.append(value)
            inner(column, n, pieces)
            return
        out = [null] * n
        if present:
            parts: Pieces = []
            inner([items[i] for i in present], len(present), parts)
            for i, encoded in zip(present, _join(parts, len(present)), strict=True):
                out[i] = value + encoded
        pieces.append(out)

    return write


def _join(pieces: Pieces, n: int) -> list[bytes]:
    """Each row's pieces joined: runs of fixed-width pieces (shared bytes, matrices) made one matrix first."""
    columns: list[Any] = []
    run: list[Any] = []
    for piece in [*pieces, None]:
        if isinstance(piece, bytes | np.ndarray):
            run.append(piece)
            continue
        if run:
            columns.append(_fixed(run, n))
            run = []
        if piece is not None:
            columns.append(piece)
    if not columns:
        return [b""] * n
    if len(columns) == 1:
        return [columns[0]] * n if isinstance(columns[0], bytes) else columns[0]
    return list(map(b"".join, zip(*[repeat(c, n) if isinstance(c, bytes) else c for c in columns])))


def _fixed(run: list[Any], n: int) -> bytes | list[bytes]:
    """Adjacent fixed-width pieces as one: shared bytes when all are, else each row's bytes of their matrix."""
    if all(isinstance(piece, bytes) for piece in run):
        return b"".join(run)
    matrices = [np.broadcast_to(np.frombuffer(p, _U8), (n, len(p))) if isinstance(p, bytes) else p for p in run]
    matrix = matrices[0] if len(matrices) == 1 else np.hstack(matrices)
    return _void(matrix, matrix.shape[1])


def encode_many(encoders: HeadEncoders, parts: list[Part]) -> list[list[bytes]]:
    """encode_heads of each part: parts of one event type encoded as one (their columns concatenated)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, part in enumerate(parts):
        groups.setdefault((part.event_type, part.event_version, part.source_service), []).append(i)
    out: list[list[bytes]] = [[] for _ in parts]
    for at in groups.values():
        members = [parts[i] for i in at]
        heads = encoders.encode_heads(members[0] if len(members) == 1 else _concat_parts(members))
        start = 0
        for i, part in zip(at, members, strict=True):
            out[i] = heads[start : start + len(part)]
            start += len(part)
    return out


def _concat_parts(parts: list[Part]) -> Part:
    """One part holding the rows of `parts` (same stream and event type) in order: the columns a head reads."""
    sizes = [len(p) for p in parts]
    first = parts[0]

    def joined(get: Callable[[Part], Any]) -> Any:
        return _concat([get(p) for p in parts], sizes)

    return Part(
        stream=first.stream,
        event_type=first.event_type,
        source_service=first.source_service,
        time_us=np.concatenate([p.time_us for p in parts]),
        key=None,
        event_id=joined(lambda p: p.event_id),
        correlation_id=joined(lambda p: p.correlation_id),
        payload=_concat([p.payload for p in parts], sizes),
        truth=None,
        event_version=first.event_version,
    )


def _concat(columns: list[Any], sizes: list[int]) -> Any:
    """Columns of consecutive row ranges as one column, keeping the fastest convention they all share."""
    first = columns[0]
    if all(_shared(c) for c in columns):
        if all(same_value(c, first) for c in columns):
            return first
    elif all(isinstance(c, np.ndarray) for c in columns):
        return np.concatenate(columns)
    elif all(isinstance(c, Micros) for c in columns):
        return Micros(np.concatenate([c.values for c in columns]))
    elif all(isinstance(c, Decimals) and c.scale == first.scale for c in columns):
        return Decimals(np.concatenate([c.units for c in columns]), first.scale)
    elif all(isinstance(c, dict) and c.keys() == first.keys() for c in columns):
        return {name: _concat([c[name] for c in columns], sizes) for name in first}
    return [value for c, n in zip(columns, sizes, strict=True) for value in values(c, None, n)]
