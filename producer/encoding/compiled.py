"""Schema-specialised Avro encoders: Python source generated from a schema, byte-identical to fastavro.

fastavro interprets the schema for every record; for datagen's wide, nested envelopes that
interpretation is most of the cost. Here each record type becomes one straight-line function
(no lookups, no dispatch), small records whose values repeat (the truth labels) are memoised, and
the result is checked byte for byte against fastavro in the tests. Supported: null, boolean, int,
long, float, double, bytes, string, records, enums, arrays, maps, fixed, unions (None, tuple
notation or type dispatch), and the logical types datagen uses (uuid, timestamp-micros/millis,
decimal, date). A top-level union field may also be *tagged*: its branch named by another field
of the same record (an event's payload by its event_type), so the value needs no conversion first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from producer.encoding.schemas import PRIMITIVES as _PRIMITIVES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_SMALL = [bytes([n]) for n in range(128)]
_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack
MEMO_LIMIT = 4096


def _varint(n: int) -> bytes:
    """The Avro varint of a non-negative (zig-zagged) n."""
    out = bytearray()
    while n > 127:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_VARINT = [_varint(n) for n in range(1 << 14)]  # every one- and two-byte varint, precomputed


_HIGH: dict[int, bytes] = {}  # varints of n >> 28: the upper digits of nearby event times repeat


def long_bytes(value: int) -> bytes:
    """Avro zig-zag varint of a long: small values from a table, large ones as four low digits + cached high ones."""
    n = (value << 1) ^ (value >> 63)
    if n < 16384:
        return _VARINT[n]
    if n < 1 << 21:
        return bytes(((n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, n >> 14))
    if n < 1 << 28:
        return bytes(((n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, (n >> 14 & 0x7F) | 0x80, n >> 21))
    high = n >> 28
    tail = _HIGH.get(high)
    if tail is None:
        if len(_HIGH) >= 4096:
            _HIGH.clear()
        tail = _HIGH[high] = _varint(high)
    return bytes(((n & 0x7F) | 0x80, (n >> 7 & 0x7F) | 0x80, (n >> 14 & 0x7F) | 0x80, (n >> 21 & 0x7F) | 0x80)) + tail


_LEN = [long_bytes(n) for n in range(4096)]


def str_bytes(value: str) -> bytes:
    """A length-prefixed UTF-8 string."""
    data = value.encode()
    size = len(data)
    return (_LEN[size] if size < 4096 else long_bytes(size)) + data


_UUID_LEN = _LEN[36]


def uuid_bytes(value: Any) -> bytes:
    """A uuid logical value, length-prefixed (36 bytes when given as canonical text or a UUID)."""
    data = (str(value) if isinstance(value, UUID) else value).encode()
    # the length of the UTF-8 bytes, not of the text: 36 characters are more bytes if any is not ASCII
    return _UUID_LEN + data if len(data) == 36 else raw_bytes(data)


def raw_bytes(value: bytes) -> bytes:
    """Length-prefixed bytes."""
    size = len(value)
    return (_LEN[size] if size < 4096 else long_bytes(size)) + value


def micros(value: Any) -> int:
    """timestamp-micros of an aware or naive datetime (naive = UTC), or an int as is."""
    if isinstance(value, datetime):
        delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return value


def millis(value: Any) -> int:
    """timestamp-millis of a datetime, or an int as is."""
    return micros(value) // 1000 if isinstance(value, datetime) else value


def days(value: Any) -> int:
    """Avro date: days since the epoch."""
    return (value - date(1970, 1, 1)).days if isinstance(value, date) else value


def decimal_bytes(value: Any, scale: int) -> bytes:
    """Avro decimal (bytes): the unscaled value, big-endian two's complement, length-prefixed.

    The width follows fastavro (magnitude bits + a sign bit, rounded up to bytes), so the bytes
    are identical to its output, negative values included.
    """
    unscaled = int(value.scaleb(scale)) if isinstance(value, Decimal) else round(value * 10**scale)
    size = (abs(unscaled).bit_length() + 8) // 8
    return raw_bytes(unscaled.to_bytes(size, "big", signed=True))


def uuid_str(value: Any) -> str:
    """A uuid logical value as text."""
    return str(value) if isinstance(value, UUID) else value


class _Compiler:
    """Turns a parsed schema into the source of one function per named type."""

    def __init__(self, tags: dict[str, tuple[str, dict[str, str]]] | None = None) -> None:
        # union fields of the top record whose branch another field names: field -> (tag field, tag -> branch)
        self.tags = tags or {}
        self.tables: list[str] = []  # constants holding tag value -> function name, to resolve after exec
        self.named: dict[str, Any] = {}
        self.functions: dict[str, str] = {}
        self.constants: dict[str, Any] = {}
        self.counter = 0
        self.records: dict[str, dict[str, Any]] = {}

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any, prefix: str = "K") -> str:
        name = self.fresh(prefix)
        self.constants[name] = value
        return name

    def full_name(self, schema: dict[str, Any], namespace: str) -> str:
        name = schema["name"]
        if "." in name:
            return name
        ns = schema.get("namespace", namespace)
        return f"{ns}.{name}" if ns else name

    def expr(self, schema: Any, value: str, namespace: str) -> str:
        """A Python expression giving the bytes of `value` (an expression) under `schema`."""
        if isinstance(schema, str):
            if schema in self.named:
                return f"{self.named[schema]}({value})"
            qualified = f"{namespace}.{schema}" if namespace and f"{namespace}.{schema}" in self.named else None
            if qualified:
                return f"{self.named[qualified]}({value})"
            return self.primitive(schema, value, None)
        if isinstance(schema, list):
            return self.union(schema, value, namespace)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if kind == "record":
            return f"{self.record(schema, namespace)}({value})"
        if kind == "enum":
            name = self.full_name(schema, namespace)
            index = self.constant({s: long_bytes(i) for i, s in enumerate(schema["symbols"])}, "E")
            self.named[name] = f"{index}.__getitem__"
            return f"{index}[{value}]"
        if kind == "fixed":
            self.named[self.full_name(schema, namespace)] = "bytes"
            return f"bytes({value})"
        if kind == "array":
            item = self.fresh("a")
            inner = self.expr(schema["items"], item, namespace)
            return (
                f"((long_bytes(len({value})) + b''.join([{inner} for {item} in {value}]) + b'\\x00') "
                f"if {value} else b'\\x00')"
            )
        if kind == "map":
            key, val = self.fresh("k"), self.fresh("v")
            inner = self.expr(schema["values"], val, namespace)
            return (
                f"((long_bytes(len({value})) + b''.join([str_bytes({key}) + {inner} for {key}, {val} in "
                f"{value}.items()]) + b'\\x00') if {value} else b'\\x00')"
            )
        return self.primitive(kind, value, logical, schema)

    def primitive(self, kind: str, value: str, logical: str | None, schema: dict[str, Any] | None = None) -> str:
        if kind == "null":
            return "b''"
        if kind == "boolean":
            return f"(b'\\x01' if {value} else b'\\x00')"
        if kind in ("int", "long"):
            if logical == "timestamp-micros":
                return f"long_bytes(micros({value}))"
            if logical == "timestamp-millis":
                return f"long_bytes(millis({value}))"
            if logical == "date":
                return f"long_bytes(days({value}))"
            return f"long_bytes({value})"
        if kind == "double":
            return f"_DOUBLE({value})"
        if kind == "float":
            return f"_FLOAT({value})"
        if kind == "string":
            return f"uuid_bytes({value})" if logical == "uuid" else f"str_bytes({value})"
        if kind == "bytes":
            if logical == "decimal":
                assert schema is not None
                return f"decimal_bytes({value}, {int(schema.get('scale', 0))})"
            return f"raw_bytes({value})"
        raise ValueError(f"unsupported Avro type {kind!r}")

    def union(self, branches: list[Any], value: str, namespace: str) -> str:
        """Unions: None -> the null branch; (name, datum) tuples -> that branch; else by Python type."""
        names = {}
        for index, branch in enumerate(branches):
            names[self.branch_name(branch, namespace)] = index
        fn = self.fresh("u")
        lines = [f"def {fn}(v):"]
        if "null" in names:
            lines.append(f"    if v is None: return {long_bytes(names['null'])!r}")
        lines.append("    if type(v) is tuple:")
        lines.append("        name, v = v")
        table = {}
        for name, index in names.items():
            if name == "null":
                continue
            table[name] = (long_bytes(index), self.expr(branches[index], "v", namespace))
        for name, (prefix, encode) in table.items():
            lines.append(f"        if name == {name!r}: return {prefix!r} + {encode}")
        lines.append("        raise ValueError(f'unknown union branch {name!r}')")
        dict_like = [b for b in branches if isinstance(b, dict) and b.get("type") in ("record", "map")]
        for name, (prefix, encode) in table.items():
            branch = branches[names[name]]
            check: str | None
            if isinstance(branch, dict) and branch.get("type") == "record" and len(dict_like) == 1:
                check = "type(v) is dict"  # the only branch a dict can be (as the truth in [null, Truth])
            elif isinstance(branch, dict) and branch.get("type") == "record":
                # a plain dict picks the first record branch whose required fields it carries
                required = frozenset(f["name"] for f in branch["fields"] if "default" not in f)
                fields = self.constant(required, "F")
                check = f"isinstance(v, dict) and v.keys() >= {fields}"
            elif isinstance(branch, dict) and branch.get("logicalType") in _LOGICAL_CHECKS:
                # fastavro takes the logical type's Python values in a union too (a UUID, a datetime)
                check = _LOGICAL_CHECKS[branch["logicalType"]]
            else:
                check = _PY_CHECKS.get(name)
            if check:
                lines.append(f"    if {check}: return {prefix!r} + {encode}")
        lines.append("    raise ValueError(f'no union branch for {type(v).__name__}')")
        self.functions[fn] = "\n".join(lines)
        return f"{fn}({value})"

    def tagged(self, branches: list[Any], field: str, tag: str, choice: dict[str, str], namespace: str) -> str:
        """A union field whose branch `d[tag]` names through `choice` (tag value -> branch name)."""
        index = {self.branch_name(branch, namespace): i for i, branch in enumerate(branches)}
        table = {}
        for value, branch in choice.items():
            at = index[branch]
            fn = self.fresh("t")
            self.functions[fn] = (
                f"def {fn}(v):\n    return {long_bytes(at)!r} + {self.expr(branches[at], 'v', namespace)}"
            )
            table[value] = fn
        lookup = self.constant(table, "T")  # names now; compile_encoder puts the functions in once defined
        self.tables.append(lookup)
        return f"{lookup}[d[{tag!r}]](d[{field!r}])"

    def branch_name(self, branch: Any, namespace: str) -> str:
        if isinstance(branch, str):
            return branch if branch in _PRIMITIVES or "." in branch or not namespace else f"{namespace}.{branch}"
        if branch["type"] in ("record", "enum", "fixed"):
            return self.full_name(branch, namespace)
        return branch["type"]

    def record(self, schema: dict[str, Any], namespace: str) -> str:
        name = self.full_name(schema, namespace)
        if name in self.named:
            return self.named[name]
        fn = self.fresh("r")
        self.named[name] = fn
        inner_ns = name.rsplit(".", 1)[0] if "." in name else ""
        tags, self.tags = self.tags, {}  # tags apply to the top record only
        parts = [
            self.tagged(field["type"], field["name"], *tags[field["name"]], inner_ns)
            if field["name"] in tags
            else self.expr(field["type"], f"d[{field['name']!r}]", inner_ns)
            for field in schema["fields"]
        ]
        body = "b''.join((" + ", ".join(parts) + ",))" if parts else "b''"
        self.functions[fn] = f"def {fn}(d):\n    return {body}"
        self.records[name] = schema
        return fn

    def memo_key(self, name: str) -> str:
        """A function giving the memo key of a record: its field values, fields holding floats as their bytes.

        -0.0 == 0.0 (and hashes alike) but encodes differently, so a float is keyed on its bytes.
        """
        schema = self.records[name]
        inner_ns = name.rsplit(".", 1)[0] if "." in name else ""
        parts = []
        for field in schema["fields"]:
            value = f"d[{field['name']!r}]"
            parts.append(value if _float_free(field["type"]) else self.expr(field["type"], value, inner_ns))
        fn = self.fresh("key")
        self.functions[fn] = f"def {fn}(d):\n    return (" + "".join(f"{part}, " for part in parts) + ")"
        return fn


def _float_free(schema: Any) -> bool:
    """True when no value of `schema` can be a float (named references count as possibly holding one)."""
    if isinstance(schema, list):
        return all(_float_free(branch) for branch in schema)
    if isinstance(schema, dict):
        return schema["type"] == "enum" or (schema["type"] in _PRIMITIVES and _float_free(schema["type"]))
    return schema in _PRIMITIVES and schema not in ("float", "double")


_PY_CHECKS = {
    "string": "isinstance(v, str)",
    "boolean": "isinstance(v, bool)",
    "long": "isinstance(v, int) and not isinstance(v, bool)",
    "int": "isinstance(v, int) and not isinstance(v, bool)",
    "double": "isinstance(v, float)",
    "float": "isinstance(v, float)",
    "bytes": "isinstance(v, (bytes, Decimal))",
    "map": "isinstance(v, dict)",
    "array": "isinstance(v, list)",
}
_LOGICAL_CHECKS = {
    "uuid": "isinstance(v, (str, UUID))",
    "timestamp-micros": "isinstance(v, (int, datetime)) and not isinstance(v, bool)",
    "timestamp-millis": "isinstance(v, (int, datetime)) and not isinstance(v, bool)",
    "date": "isinstance(v, (int, date)) and not isinstance(v, bool)",
}


def compile_encoder(
    schema: dict[str, Any], memo: tuple[str, ...] = (), tags: dict[str, tuple[str, dict[str, str]]] | None = None
) -> Callable[[dict[str, Any]], bytes]:
    """An encoder writing the schemaless Avro body of one record of `schema`.

    Record types named in `memo` (full names) are memoised on their field values: use it for small
    records whose values repeat a lot, like datagen.Truth. `tags` maps a union field of the top
    record to (tag field, tag value -> branch full name): its value is then encoded as that branch,
    chosen by the tag field's value (an event's payload by its event_type).
    """
    compiler = _Compiler(tags)
    top = compiler.record(schema, schema.get("namespace", ""))
    keys = {full: compiler.memo_key(full) for full in memo if full in compiler.records}
    namespace: dict[str, Any] = {
        "long_bytes": long_bytes,
        "str_bytes": str_bytes,
        "raw_bytes": raw_bytes,
        "micros": micros,
        "millis": millis,
        "days": days,
        "decimal_bytes": decimal_bytes,
        "uuid_str": uuid_str,
        "uuid_bytes": uuid_bytes,
        "_DOUBLE": _DOUBLE,
        "_FLOAT": _FLOAT,
        "Decimal": Decimal,
        "UUID": UUID,
        "datetime": datetime,
        "date": date,
        **compiler.constants,
    }
    source = "\n\n".join(compiler.functions.values())
    exec(compile(source, f"<avro encoder {schema.get('name')}>", "exec"), namespace)
    for table in compiler.tables:
        namespace[table].update({value: namespace[fn] for value, fn in namespace[table].items()})
    for full, key in keys.items():
        fn = compiler.named[full]
        namespace[fn] = _memoised(namespace[fn], namespace[key])
    return namespace[top]


def _memoised(
    encode: Callable[[dict[str, Any]], bytes], memo_key: Callable[[dict[str, Any]], tuple]
) -> Callable[[dict[str, Any]], bytes]:
    """`encode` with its results cached: by the dict itself, then by `memo_key` of its values.

    Events share their truth dicts (one per label kind and block) and never change them (copy on
    write), so the same object recurs: it is found by identity first, the entry holding it so its
    id cannot be reused. A record must therefore not be changed in place after it was encoded.
    The key holds floats as their bytes, so 0.0 and -0.0 (equal, alike in hash) never share an entry.
    """
    cache: dict[tuple, bytes] = {}
    by_id: dict[int, tuple[dict[str, Any], bytes]] = {}

    def cached(d: dict[str, Any]) -> bytes:
        hit = by_id.get(id(d))
        if hit is not None and hit[0] is d:
            return hit[1]
        try:
            key = memo_key(d)
            found = cache.get(key)
        except TypeError:  # an unhashable value: encode without the cache
            return encode(d)
        if found is None:
            found = encode(d)
            if len(cache) >= MEMO_LIMIT:
                cache.clear()
            cache[key] = found
        if len(by_id) >= MEMO_LIMIT:
            by_id.clear()
        by_id[id(d)] = (d, found)
        return found

    return cached
