"""Avro records of a RowSet read from its Parts' columns: cached heads, batch truths, each topic's framing.

A record's value is `prefix + head + truth`: the head (every envelope field before the truth) is
encoded once per Part for all its rows (a part's rows go out over several batches) and cached on
the part; the truths of a whole batch are encoded at once from label columns (most rows share
one); the prefix is what the topic's per-record encoder writes before the Avro body (a Confluent
frame, or nothing). The prefix is learnt on a stream's first row by encoding that row both ways:
if the columnar body is not what the per-record encoder wrote after its prefix, the stream is
logged and encoded per record from then on, so output never differs from the per-record path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from operator import add
from typing import Any

import numpy as np

from producer.domains.common.base import Event, StreamSpec
from producer.domains.common.columns import Part, pick, values
from producer.domains.common.rows import DISORDERS, RowSet
from producer.encoding.columnar import PartEncoders, TruthLabels
from producer.encoding.rowbytes import same_value
from producer.encoding.schema_names import SchemaNames
from producer.encoding.schemas import schema_dict

log = logging.getLogger(__name__)

Encode = Callable[[dict[str, Any]], bytes]
Columns = dict[str, Any]  # a truth label's column (numpy array) or one value shared by the rows, by name
_DISORDER = np.array(DISORDERS, dtype=object)
_NONE = np.array(None, dtype=object)  # None as a 0-d object array: compared element by element
# TruthLabels fields with a numpy dtype; the rest are object columns (str or None)
_TYPED = {"is_anomaly": np.bool_, "injected": np.bool_, "drift_progress": np.float64, "delay_ms": np.int64}
_NAMES: tuple[str, ...] = (
    "scenario",
    "phase",
    "drift_progress",
    "is_anomaly",
    "pattern",
    "risk_level",
    "disorder",
    "delay_ms",
)
_NAMES += ("injected", "episode_id")
_OWN = ("scenario", "phase", "drift_progress", "is_anomaly", "pattern", "risk_level", "injected", "episode_id")


class PartRecords:
    """Record values of column Parts' rows for the Avro topics of one Encoding (labels inline or off)."""

    def __init__(self, specs: Sequence[StreamSpec], inline: bool) -> None:
        self.inline = inline
        self.encoders: dict[str, PartEncoders] = {}
        self.truth_group: dict[str, str] = {}  # stream -> its truth type: streams alike share one truth encoding
        for spec in specs:
            schema = schema_dict(spec.schema)
            self.encoders[spec.name] = PartEncoders(schema, spec.event_types)
            truth = SchemaNames(schema).standalone(schema["fields"][-1]["type"], schema.get("namespace", ""))
            self.truth_group[spec.name] = json.dumps(truth, sort_keys=True)
        self.prefix: dict[str, bytes] = {}  # stream -> framing, once its first row checked it
        self.fallback: set[str] = set()  # streams whose columnar bytes differed: encoded per record
        self._null = {name: enc.encode_truths(None, 1)[0] for name, enc in self.encoders.items()}

    def columnar(self, part: Part, rows: RowSet, at: np.ndarray, encode: Encode) -> bool:
        """Whether this part's rows take the columnar path (checks the stream's first row once)."""
        if part.stream in self.fallback:
            return False
        if part.stream not in self.prefix:
            return self._check(part, rows, at[:1], encode)
        return True

    def records(self, groups: list[tuple[Part, np.ndarray]], rows: RowSet, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's record value and key (object arrays over the batch; None at positions outside `groups`)."""
        self._encode_new([part for part, _ in groups])
        out, keys, truths = (np.empty(n, dtype=object) for _ in range(3))
        labelled: dict[str, list[tuple[Part, np.ndarray]]] = {}
        for part, at in groups:
            assert part.encoded is not None  # set by _encode_new
            _, heads, part_keys = part.encoded
            picked = rows.row[at]
            out[at], keys[at] = heads[picked], part_keys[picked]
            if self.inline and part.truth is not None:
                labelled.setdefault(self.truth_group[part.stream], []).append((part, at))
            else:
                truths[at] = self._null[part.stream]
        for members in labelled.values():
            at = np.concatenate([positions for _, positions in members])
            truths[at] = self._truths(members, rows, at)
        at = np.concatenate([positions for _, positions in groups])
        out[at] = np.fromiter(map(add, out[at], truths[at]), dtype=object, count=len(at))
        return out, keys

    def _truths(self, members: list[tuple[Part, np.ndarray]], rows: RowSet, at: np.ndarray) -> list[bytes]:
        """The truth bytes of the rows at `at` (the members' positions one after another): one encode for all."""
        columns = [(own_columns(part, rows.row[positions]), len(positions)) for part, positions in members]
        merged = row_labels(merge_columns(columns, len(at)), rows, at)
        return self.encoders[members[0][0].stream].encode_truths(TruthLabels(**merged), len(at))

    def _encode_new(self, parts: list[Part]) -> None:
        """Cache on each part not yet encoded its every row's prefix + head and key bytes (one encode for all)."""
        new = [p for p in parts if p.encoded is None or p.encoded[0] is not self.encoders[p.stream]]
        if not new:
            return
        by_stream: dict[str, list[Part]] = {}
        for part in new:
            by_stream.setdefault(part.stream, []).append(part)
        for stream, members in by_stream.items():
            for part, heads in zip(members, self.encoders[stream].encode_many(members), strict=True):
                self._cache(part, heads)

    def _cache(self, part: Part, heads: list[bytes]) -> None:
        """Keep on the part its every row's prefix + head and key bytes (object arrays, picked by row)."""
        prefix = self.prefix[part.stream]
        keys = _objects(list(map(str.encode, values(part.key, None, len(part)))))
        part.encoded = (self.encoders[part.stream], _objects([prefix + h for h in heads] if prefix else heads), keys)

    def _check(self, part: Part, rows: RowSet, first: np.ndarray, encode: Encode) -> bool:
        """Encode a stream's first row both ways; keep the prefix if the columnar body ends the per-record bytes."""
        encoders, stream = self.encoders[part.stream], part.stream
        heads = encoders.encode_heads(part)  # the whole part: its other rows will want them too
        head = heads[int(rows.row[first[0]])]
        if self.inline and part.truth is not None:
            truth = encoders.encode_truths(TruthLabels(**truth_columns(part, rows, first)), 1)[0]
        else:
            truth = self._null[stream]
        event: Event = rows.take(first).events()[0]
        reference = encode(event.value if self.inline else {**event.value, "truth": None})
        body = head + truth
        if not reference.endswith(body):
            log.warning("columnar Avro differs from the per-record encoder stream=%s; encoding it per record", stream)
            self.fallback.add(stream)
            return False
        self.prefix[stream] = reference[: len(reference) - len(body)]
        self._cache(part, heads)
        return True


def truth_columns(part: Part, rows: RowSet, at: np.ndarray) -> Columns:
    """The truth labels of `part`'s rows at positions `at` of `rows`, as RowSet.events() would set them."""
    return row_labels(own_columns(part, rows.row[at]), rows, at)


def own_columns(part: Part, picked: np.ndarray) -> Columns:
    """The truth labels a part's rows `picked` carry themselves (not disordered, no delay)."""
    truth = part.truth
    assert truth is not None
    own = {name: _pick(getattr(truth, name), picked) for name in _OWN}
    own["disorder"], own["delay_ms"] = None, 0
    return own


def row_labels(own: Columns, rows: RowSet, at: np.ndarray) -> Columns:
    """`own` labels of the rows at positions `at`, with phase, drift progress and disorder the RowSet gives them."""
    if rows.phase is not None:
        own["phase"], own["drift_progress"] = _relabelled(own["phase"], own["drift_progress"], rows, at)
    if rows.disorder is not None:
        codes = rows.disorder[at]
        if codes.any():
            own["disorder"] = _DISORDER[codes]
            delays = rows.delay_ms[at] if rows.delay_ms is not None else 0
            own["delay_ms"] = np.where(codes != 0, delays, 0).astype(np.int64)
    return own


def _relabelled(phase: Any, drift: Any, rows: RowSet, at: np.ndarray) -> tuple[Any, Any]:
    """Phase and drift progress where the RowSet labels a row and differs from its own (both taken together)."""
    assert rows.phase is not None
    labels = rows.phase[at]
    drifts = rows.drift[at] if rows.drift is not None else np.full(len(at), None, dtype=object)
    given = np.not_equal(labels, _NONE).astype(bool)
    change = given & (np.not_equal(labels, phase) | np.not_equal(drifts, drift)).astype(bool)
    if not change.any():
        return phase, drift
    if change.all():
        return labels, drifts
    phases = np.where(change, labels, phase).astype(object)
    return phases, np.where(change, drifts, drift)


def merge_columns(groups: list[tuple[Columns, int]], n: int) -> Columns:
    """The label columns of several groups of rows (columns, row count) one after another, n rows in all.

    A label every group shares stays one shared value, and an object column whose values are all
    alike becomes one: encode_truths then has fewer distinct combinations to find.
    """
    out: Columns = {}
    for name in _NAMES:
        items = [columns[name] for columns, _ in groups]
        first = items[0]
        if not any(isinstance(v, np.ndarray) for v in items) and all(same_value(v, first) for v in items):
            out[name] = first
            continue
        merged: np.ndarray = np.empty(n, dtype=_TYPED.get(name, object))
        start = 0
        for value, (_, size) in zip(items, groups, strict=True):
            merged[start : start + size] = value
            start += size
        out[name] = _shared(merged) if merged.dtype == object else merged
    return out


def _pick(column: Any, rows: np.ndarray) -> Any:
    """A label column's values at `rows` (a list's as an object array), or the shared value."""
    picked = pick(column, rows)
    return _objects(picked) if isinstance(picked, list) else picked


def _objects(items: list[Any]) -> np.ndarray:
    """A 1-d object array of `items` (never split into a 2-d array, whatever they are)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _shared(column: np.ndarray) -> Any:
    """An object column of str or None labels all equal to its first as that one value, else the column."""
    first = column[0]
    if (first is None or isinstance(first, str)) and np.equal(column, np.array(first, dtype=object)).all():
        return first
    return column
