"""Avro value encoding: the per-record compiled encoder on event dicts vs the columnar encoder on Parts.

Usage: python benchmarks/bench_encode.py [--events N] [--scenario stress_test] [--batch B] [--repeats R]

Generates N events through the scenario's sources (as a run does) and turns them into Parts the way
columnar generators will return them: one part per stream, generator block and event type (numpy
columns, Micros, Decimals, dicts of columns; tests/unit/encoding/test_columnar.to_parts). The events
are cut into batches of B (a run at --rate max takes 2000 per tick); each batch is the rows of its
parts. Timed, CPU seconds, best of R:
  per-record   compiled encoder on each event's value dict (head and truth);
  per-batch    encode_parts of the batch's (part, rows), then encode_truths of the batch's label columns;
  whole-part   each part's heads encoded once, all parts of the batch that are new to it in one
               encode_parts call, picked per row, plus the batch's encode_truths (what a cache on the part buys).
Every body is checked against the per-record encoder first. Prints µs/event and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from producer.domains import SPECS  # noqa: E402
from producer.domains.common.columns import Part  # noqa: E402
from producer.domains.common.event import Event  # noqa: E402
from producer.encoding.avro import schemaless_encoder  # noqa: E402
from producer.encoding.columnar import PartEncoders, encode_parts  # noqa: E402
from producer.encoding.schemas import schema_dict  # noqa: E402
from producer.scenario.loader import load_scenario  # noqa: E402
from producer.scheduling import sources  # noqa: E402
from tests.unit.encoding.test_columnar import labels_of, to_parts  # noqa: E402

Batch = list[tuple[Part, np.ndarray]]


def generate(scenario: str, count: int) -> tuple[list[Event], list[int]]:
    """The scenario's first `count` events, each with the number of the generator block that released it."""
    blocks: dict[int, int] = {}
    original = sources.StreamSource.next_block
    counter = iter(range(1, 1 << 62))

    def tagged(self: sources.StreamSource) -> list[Event] | None:
        events = original(self)
        number = next(counter)
        for event in events or ():
            blocks[id(event)] = number
        return events

    sources.StreamSource.next_block = tagged  # type: ignore[method-assign]
    try:
        events = list(islice(sources.EventSource(load_scenario(scenario)), count))
    finally:
        sources.StreamSource.next_block = original  # type: ignore[method-assign]
    return events, [blocks.get(id(event), 0) for event in events]


def batches(events: list[Event], block_of: list[int], size: int) -> list[tuple[Batch, list[Event]]]:
    """Parts per (stream, block, event type), and each batch as (part, rows) in the events' order."""
    groups: dict[tuple[str, int, str], list[int]] = {}
    for i, (event, block) in enumerate(zip(events, block_of, strict=True)):
        groups.setdefault((event.stream, block, event.event_type), []).append(i)
    where: dict[int, tuple[Part, int]] = {}
    for indices in groups.values():
        (part,) = to_parts([events[i] for i in indices], numpy=True)
        for row, i in enumerate(indices):
            where[i] = (part, row)
    out = []
    for start in range(0, len(events), size):
        picked: dict[int, tuple[Part, list[int]]] = {}
        for i in range(start, min(start + size, len(events))):
            part, row = where[i]
            picked.setdefault(id(part), (part, []))[1].append(row)
        batch = [(part, np.array(rows, dtype=np.int64)) for part, rows in picked.values()]
        # the batch's events in (part, row) order, as the heads come out
        ordered = [event for part, rows in batch for event in part.events(rows)]
        out.append((batch, ordered))
    return out


def best(runs: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Each run's least CPU time over `repeats` rounds, the runs taking turns (the machine may be shared)."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, spent in zip(runs, times, strict=True):
            started = time.process_time()
            run()
            spent.append(time.process_time() - started)
    return [min(spent) for spent in times]


def main() -> None:
    """Time the three ways on the same batches and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    events, block_of = generate(args.scenario, args.events)
    cut = batches(events, block_of, args.batch)
    parts = {id(part): part for batch, _ in cut for part, _ in batch}
    print(f"{len(events)} {args.scenario} events in {time.perf_counter() - started:.1f} s: {len(parts)} parts,")
    print(f"{len(cut)} batches of {args.batch}, {np.mean([len(b) for b, _ in cut]):.0f} (part, rows) per batch")
    per_record = {name: schemaless_encoder(spec.schema, spec.event_types) for name, spec in SPECS.items()}
    columnar = {name: PartEncoders(schema_dict(spec.schema), spec.event_types) for name, spec in SPECS.items()}
    truth_encoder = columnar["fintech.transactions"]  # the truth record is datagen.Truth in every stream
    labels = [labels_of([event.value["truth"] for event in ordered]) for _, ordered in cut]
    values = [[(per_record[e.stream], e.value) for e in ordered] for _, ordered in cut]

    def by_batch() -> list[list[bytes]]:
        out = []
        for (batch, ordered), label in zip(cut, labels, strict=True):
            heads = encode_parts([(columnar[part.stream], part, rows) for part, rows in batch])
            truths = truth_encoder.encode_truths(label, len(ordered))
            out.append([h + t for h, t in zip([h for hs in heads for h in hs], truths, strict=True)])
        return out

    def by_part() -> list[list[bytes]]:
        cache: dict[int, list[bytes]] = {}
        out = []
        for (batch, ordered), label in zip(cut, labels, strict=True):
            new = [part for part, _ in batch if id(part) not in cache]
            for part, heads in zip(new, encode_parts([(columnar[p.stream], p, None) for p in new]), strict=True):
                cache[id(part)] = heads
            truths = iter(truth_encoder.encode_truths(label, len(ordered)))
            out.append([cache[id(part)][row] + next(truths) for part, rows in batch for row in rows.tolist()])
        return out

    def reference() -> list[list[bytes]]:
        return [[encode(value) for encode, value in batch] for batch in values]

    expected = reference()
    print(f"byte-exact: per-batch {by_batch() == expected}, whole-part {by_part() == expected}")
    gc.collect()
    gc.freeze()
    record_s, batch_s, part_s = best([reference, by_batch, by_part], args.repeats)
    n = len(events)
    print(f"per-record  {record_s / n * 1e6:6.2f} µs/event")
    print(f"per-batch   {batch_s / n * 1e6:6.2f} µs/event  {record_s / batch_s:5.2f}x")
    print(f"whole-part  {part_s / n * 1e6:6.2f} µs/event  {record_s / part_s:5.2f}x")


if __name__ == "__main__":
    main()
