"""CPU per event of each main-thread stage, in one process, without a broker.

Usage: python benchmarks/bench_stages.py [--scenario stress_test] [--events N] [--baseline DIR]

Plays the scenario at --rate max through the scheduler's stages by hand: take (generation, merge,
labels; rows of parts, or Events in a release without them), encode (Avro bodies with a fixed
5-byte Confluent header, labels inline: what the Kafka sink is handed) and the per-batch
counters, timing each with process CPU time. Prints µs per
event of each stage. With --baseline DIR (another release's source tree) the same is measured for
it, in a child process, and the ratios are printed. Asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("take", "encode", "count")


def measure(scenario: str, events: int) -> dict[str, float]:
    """µs of CPU per event of each stage, for the producer package first on sys.path."""
    from producer.domains import output_specs
    from producer.encoding.avro import schemaless_encoder
    from producer.encoding.pipeline import Encoding
    from producer.observability.stats import RunStats
    from producer.scenario.loader import load_scenario
    from producer.scheduling import loop
    from producer.scheduling.sources import EventSource

    loaded = load_scenario(scenario)
    specs = output_specs([name for name, config in loaded.scenario.streams.items() if config.weight > 0])

    def framed(topic: str, schema: str, names: dict[str, str] | None):  # type: ignore[no-untyped-def]
        body = schemaless_encoder(schema, names)
        return lambda value: b"\x00\x00\x00\x00\x01" + body(value)

    encoding = Encoding(specs, "avro", "inline", "", framed)
    encoding.prepare()
    source = EventSource(loaded)
    source.warm_up()
    gc.collect()
    gc.freeze()  # as the run does before its hot loop
    stats, topic_of = RunStats(), {spec.name: spec.name for spec in specs}
    spent, done = dict.fromkeys(STAGES, 0.0), 0
    # the scheduler's path: rows of parts where this tree has it, Events for an older baseline
    rows = hasattr(source, "take_rows") and hasattr(encoding, "encode_rows")
    take = source.take_rows if rows else source.take
    encode = encoding.encode_rows if rows else encoding.encode
    count = stats.on_rows if rows else stats.on_produced
    while done < events:
        t0 = time.process_time()
        batch = take(loop.MAX_BATCH)  # a tick's batch at --rate max, in the tree measured
        t1 = time.process_time()
        records = encode(batch)
        t2 = time.process_time()
        count(batch, topic_of, Counter(record.topic for record in records))
        t3 = time.process_time()
        for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2)):
            spent[stage] += seconds
        done += len(batch)
    return {stage: seconds / done * 1e6 for stage, seconds in spent.items()}


def in_tree(tree: Path, scenario: str, events: int) -> dict[str, float]:
    """measure() run by another source tree, in a child process."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(ROOT / 'benchmarks')!r});"
        f"import bench_stages; print(json.dumps(bench_stages.measure({scenario!r}, {events})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure this tree (and a baseline), print µs/event per stage and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--baseline", type=Path, help="source tree of the release to compare with")
    args = parser.parse_args()
    ours = in_tree(ROOT, args.scenario, args.events)
    base = in_tree(args.baseline.resolve(), args.scenario, args.events) if args.baseline else None
    print(f"{args.scenario}, {args.events} events, CPU µs per event (main-thread stages, no broker)")
    print(f"{'stage':8s} {'this tree':>10s}" + (f" {'baseline':>10s} {'ratio':>7s}" if base else ""))
    for stage in (*STAGES, "total"):
        mine = sum(ours.values()) if stage == "total" else ours[stage]
        line = f"{stage:8s} {mine:10.2f}"
        if base:
            theirs = sum(base.values()) if stage == "total" else base[stage]
            line += f" {theirs:10.2f} {mine / theirs:7.2f}"
        print(line)


if __name__ == "__main__":
    main()
