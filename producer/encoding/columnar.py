"""Columnar Avro encoder: a Part's rows -> their Avro bytes, a few array operations per field.

A stream's schema is walked once per event type into a plan: every leaf of the record's byte
layout gets a slot, every field an encoder that reads its column (any convention of
producer.domains.common.columns) and hands it to the pool of its kind
(producer.encoding.columnar_pools) with the rows' cells. The pools are converted once per call,
however many fields and parts feed them, so encoding several parts together costs little more
than one. The bytes are exactly those of producer.encoding.compiled's per-record encoder (and so
fastavro's): a column the fast paths do not take (arrays, maps, Python values of another type)
is encoded value by value with that encoder's own code, which raises for a bad value as it does.

A body is `head + truth`: `encode_heads` writes every envelope field before the truth (payload
included), `encode_truths` the truth union from per-row label columns (TruthLabels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from producer.domains.common.columns import Decimals, Micros, Part, Rows, TruthColumns, values
from producer.encoding.columnar_fields import Field, Planner, const_bytes
from producer.encoding.columnar_pools import I64, Block, finish
from producer.encoding.compiled import compile_encoder

TRUTH_FIELD = "truth"
PAYLOAD_FIELD = "payload"
# the Part attribute behind each envelope field (the envelope's timestamp is the part's event time)
_ENVELOPE: dict[str, Callable[[Part], Any]] = {
    "event_id": lambda part: part.event_id,
    "event_type": lambda part: part.event_type,
    "event_version": lambda part: part.event_version,
    "timestamp": lambda part: Micros(part.time_us),
    "source_service": lambda part: part.source_service,
    "correlation_id": lambda part: part.correlation_id,
}


@dataclass(frozen=True)
class _Plan:
    """One event type's head layout: (Part attribute getter, field) in byte order, and the slots it needs."""

    fields: list[tuple[Callable[[Part], Any], Field]]
    slots: int


class PartEncoders:
    """The encoders of one stream: a Part's heads by event type, and truth unions from label columns."""

    def __init__(self, schema: dict[str, Any], record_names: dict[str, str]) -> None:
        names = [field["name"] for field in schema["fields"]]
        if TRUTH_FIELD not in names or names[-1] != TRUTH_FIELD:
            raise ValueError(f"schema {schema.get('name')}: expected {TRUTH_FIELD!r} as its last field")
        unknown = sorted(set(names[:-1]) - set(_ENVELOPE) - {PAYLOAD_FIELD})
        if unknown:
            raise ValueError(f"schema {schema.get('name')}: no Part column for envelope fields {unknown}")
        self.plans = {event_type: _plan(schema, event_type, record) for event_type, record in record_names.items()}
        namespace = schema.get("namespace", "")
        truth = Planner(schema).standalone(schema["fields"][-1]["type"], namespace)
        self._truth = compile_encoder(
            {"type": "record", "name": "_Truth", "namespace": namespace, "fields": [{"name": "v", "type": truth}]}
        )

    def encode_heads(self, part: Part, rows: Rows = None) -> list[bytes]:
        """The Avro bytes of every envelope field before the truth, for each of `rows` (all by default)."""
        return encode_parts([(self, part, rows)])[0]

    def encode_truths(self, labels: TruthLabels | None, n: int) -> list[bytes]:
        """The truth union of n rows: null for all of them when `labels` is None."""
        if labels is None:
            return [self._truth({"v": None})] * n
        return _truths(self._truth, labels, n)

    def plan(self, event_type: str) -> _Plan:
        """The head layout of one event type (KeyError naming the known ones)."""
        try:
            return self.plans[event_type]
        except KeyError:
            raise KeyError(f"unknown event type {event_type!r}; expected one of {sorted(self.plans)}") from None


def encode_parts(items: Sequence[tuple[PartEncoders, Part, Rows]]) -> list[list[bytes]]:
    """encode_heads of several (encoders, part, rows) at once: the pools converted once for all of them."""
    plans = [encoders.plan(part.event_type) for encoders, part, _ in items]
    sizes = [len(part) if rows is None else len(rows) for _, part, rows in items]
    block = Block(sum(sizes), max((plan.slots for plan in plans), default=1))
    start = 0
    for plan, (_, part, rows), size in zip(plans, items, sizes, strict=True):
        at = np.arange(start, start + size, dtype=I64)
        start += size
        picked = None if rows is None else np.asarray(rows, dtype=I64)
        for getter, field in plan.fields:
            field(block, getter(part), picked, at)
    heads = finish(block)
    out, start = [], 0
    for size in sizes:
        out.append(heads[start : start + size])
        start += size
    return out


def _plan(schema: dict[str, Any], event_type: str, record: str) -> _Plan:
    """The fields of `schema` before the truth, its payload union fixed to the branch `record`."""
    planner = Planner(schema)
    namespace = schema.get("namespace", "")
    fields: list[tuple[Callable[[Part], Any], Field]] = []
    for spec in schema["fields"][:-1]:
        name = spec["name"]
        if name == PAYLOAD_FIELD:
            index = [planner.branch_name(branch, namespace) for branch in spec["type"]].index(record)
            branch = const_bytes(index)
            fields.append((_constant(branch), planner.constant()))  # the branch index, one byte string
            fields.append((_payload, planner.column(spec["type"][index], namespace)))
        else:
            fields.append((_ENVELOPE[name], planner.column(spec["type"], namespace)))
    del event_type  # the plan's branch is named by `record`; the event type only keys the plans
    return _Plan(fields, planner.slots)


def _constant(value: bytes) -> Callable[[Part], Any]:
    def get(part: Part) -> Any:
        return value

    return get


def _payload(part: Part) -> Any:
    return part.payload


@dataclass(frozen=True, slots=True)
class TruthLabels:
    """The truth labels of n rows: each a column (numpy array or list, one value per row) or one shared value.

    is_anomaly, injected: bool; pattern, risk_level, disorder: str or None; scenario, phase: str;
    drift_progress: float; delay_ms: int.
    """

    scenario: Any
    phase: Any
    drift_progress: Any
    is_anomaly: Any = False
    pattern: Any = None
    risk_level: Any = None
    disorder: Any = None
    delay_ms: Any = 0
    injected: Any = False

    @classmethod
    def of(cls, truth: TruthColumns, rows: Rows, n: int) -> TruthLabels:
        """The labels of a part's `rows` (n of them) from its TruthColumns: not disordered, no delay."""

        def pick(column: Any) -> Any:
            if isinstance(column, np.ndarray | list):
                return values(column, rows, n)
            return column

        return cls(
            scenario=pick(truth.scenario),
            phase=pick(truth.phase),
            drift_progress=pick(truth.drift_progress),
            is_anomaly=pick(truth.is_anomaly),
            pattern=pick(truth.pattern),
            risk_level=pick(truth.risk_level),
            injected=pick(truth.injected),
        )


_TRUTH_NAMES: tuple[str, ...] = ("is_anomaly", "pattern", "risk_level", "scenario", "phase", "drift_progress")
_TRUTH_NAMES += ("disorder", "delay_ms", "injected")


def _truths(encode: Callable[[dict[str, Any]], bytes], labels: TruthLabels, n: int) -> list[bytes]:
    """Each distinct combination of labels encoded once (most rows share one), then picked per row."""
    codes: list[np.ndarray] = []
    uniques: list[list[Any]] = []
    for name in _TRUTH_NAMES:
        column = getattr(labels, name)
        if isinstance(column, np.ndarray | list):
            if len(column) != n:
                raise ValueError(f"truth label {name}: {len(column)} values for {n} rows")
            code, distinct = _factorize(column)
            codes.append(code)
            uniques.append(distinct)
        else:
            codes.append(np.zeros(n, I64))
            uniques.append([column])
    key = np.zeros(n, I64)
    for code, distinct in zip(codes, uniques, strict=True):
        key = key * len(distinct) + code
        if len(distinct) > 1:
            _, key = np.unique(key, return_inverse=True)  # kept dense, so the product never overflows
    combos, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    table = []
    for row in first.tolist():
        truth = {name: distinct[code[row]] for name, code, distinct in zip(_TRUTH_NAMES, codes, uniques, strict=True)}
        table.append(encode({"v": truth}))
    del combos
    if len(table) == 1:
        return table * n
    return np.array(table, dtype=object)[inverse.reshape(-1)].tolist()


def _factorize(column: np.ndarray | list) -> tuple[np.ndarray, list[Any]]:
    """Codes (int64) and the distinct values of a label column; floats by their bits (0.0 and -0.0 differ)."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "fbiu":
        bits = column.view(I64) if column.dtype == np.float64 else column
        distinct, code = np.unique(bits, return_inverse=True)
        if column.dtype == np.float64:
            return code.reshape(-1), distinct.view(np.float64).tolist()
        return code.reshape(-1), distinct.tolist()
    items = column.tolist() if isinstance(column, np.ndarray) else column
    keys = [(type(v), v.hex()) if isinstance(v, float) else v for v in items]  # -0.0 == 0.0, not in Avro
    index: dict[Any, int] = {}
    code = np.fromiter((index.setdefault(k, len(index)) for k in keys), I64, len(keys))
    distinct = [items[i] for i in np.unique(code, return_index=True)[1].tolist()]
    return code, distinct


__all__ = ["Decimals", "Micros", "PartEncoders", "TruthLabels", "encode_parts"]
