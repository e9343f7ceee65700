"""Avro bodies of Parts: heads from the columns (producer.encoding.rowbytes), truth unions from label columns.

A stream record's last field is its truth, so a body is `head + truth`: `encode_heads` writes
every envelope field before the truth (payload included), `encode_truths` the truth union of rows
whose labels are given as columns (TruthLabels), each distinct combination of labels encoded once.
The bytes are exactly those of producer.encoding.compiled's per-record encoder (and so fastavro's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from producer.domains.common.columns import TRUTH_COLUMNS, Decimals, Micros, Part, Rows, TruthColumns, values
from producer.encoding.compiled import compile_encoder
from producer.encoding.rowbytes import ENVELOPE, HeadEncoders, encode_many
from producer.encoding.schema_names import SchemaNames

I64 = np.int64

TRUTH_FIELD = "truth"
PAYLOAD_FIELD = "payload"


class PartEncoders:
    """The encoders of one stream: a Part's heads by event type, and truth unions from label columns."""

    def __init__(self, schema: dict[str, Any], record_names: dict[str, str]) -> None:
        names = [field["name"] for field in schema["fields"]]
        if TRUTH_FIELD not in names or names[-1] != TRUTH_FIELD:
            raise ValueError(f"schema {schema.get('name')}: expected {TRUTH_FIELD!r} as its last field")
        unknown = sorted(set(names[:-1]) - set(ENVELOPE) - {PAYLOAD_FIELD})
        if unknown:
            raise ValueError(f"schema {schema.get('name')}: no Part column for envelope fields {unknown}")
        self.heads = HeadEncoders(schema, record_names)
        namespace = schema.get("namespace", "")
        truth = SchemaNames(schema).standalone(schema["fields"][-1]["type"], namespace)
        self._truth = compile_encoder(
            {"type": "record", "name": "_Truth", "namespace": namespace, "fields": [{"name": "v", "type": truth}]}
        )

    def encode_heads(self, part: Part, rows: Rows = None) -> list[bytes]:
        """The Avro bytes of every envelope field before the truth, for each of `rows` (all by default)."""
        heads = self.heads.encode_heads(part)
        return heads if rows is None else [heads[i] for i in np.asarray(rows, dtype=np.int64).tolist()]

    def encode_truths(self, labels: TruthLabels | None, n: int) -> list[bytes]:
        """The truth union of n rows: null for all of them when `labels` is None."""
        if labels is None:
            return [self._truth({"v": None})] * n
        return _truths(self._truth, labels, n)

    def encode_many(self, parts: list[Part]) -> list[list[bytes]]:
        """encode_heads of each of `parts` (all rows), parts of one event type encoded together."""
        return encode_many(self.heads, parts)


@dataclass(slots=True)
class TruthLabels(TruthColumns):
    """The truth labels of n rows: a part's TruthColumns, plus the disorder and delay the scheduler gave each row.

    Each a column (numpy array or list, one value per row) or one shared value: is_anomaly, injected
    bool; pattern, risk_level, disorder, episode_id str or None; scenario, phase str; drift_progress float;
    delay_ms int.
    """

    disorder: Any = None
    delay_ms: Any = 0

    @classmethod
    def of(cls, truth: TruthColumns, rows: Rows, n: int) -> TruthLabels:
        """The labels of a part's `rows` (n of them) from its TruthColumns: not disordered, no delay."""

        def pick(column: Any) -> Any:
            if isinstance(column, np.ndarray | list):
                return values(column, rows, n)
            return column

        return cls(**{name: pick(getattr(truth, name)) for name in TRUTH_COLUMNS})


_TRUTH_NAMES: tuple[str, ...] = ("is_anomaly", "pattern", "risk_level", "scenario", "phase", "drift_progress")
_TRUTH_NAMES += ("disorder", "delay_ms", "injected", "episode_id")


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


__all__ = ["Decimals", "Micros", "PartEncoders", "TruthLabels"]
