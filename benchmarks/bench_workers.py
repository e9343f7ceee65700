"""Throughput of one process vs `--workers 2`, on the file sink: `datagen run stress_test --rate max`.

Usage: python benchmarks/bench_workers.py [--events N] [--scenario stress_test] [--workers 2]

Both runs write the same --events total into a temporary folder; events/s is delivered events
over the process's wall time (start-up included), measured in this one invocation. Prints both
figures and their ratio, then each stream's rate error over the same events: emitted events
(follow-ups and companions counted to the stream that drew them) against its weight share of
the scenario's nominal rate over the event time they cover, for the whole run and summed over
the workers' shards. Asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from producer.scenario.loader import load_scenario  # noqa: E402
from producer.scheduling.shard import Shard  # noqa: E402
from producer.scheduling.sources import EventSource, stream_shares  # noqa: E402


def run(scenario: str, events: int, workers: int, out: Path) -> float:
    """events/s of one `datagen run --sink file --rate max` with `workers` processes."""
    command = [sys.executable, "-m", "producer", "run", scenario, "--sink", "file", "--out", str(out)]
    command += ["--rate", "max", "--events", str(events), "--no-metrics", "--log-level", "WARNING"]
    command += ["--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    delivered = int(re.search(r"^\s+total\s+\d+\s+(\d+)", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert delivered == events, f"delivered {delivered} of {events}"
    return delivered / elapsed


def emitted_by_stream(scenario: str, events: int, shard: Shard) -> tuple[dict[str, int], int]:
    """Per stream, events emitted among the run's first `events` (companions to their drawer), and the last time."""
    source = EventSource(load_scenario(scenario), shard=shard)
    drawn_by: dict[str, str] = {}  # event id -> the stream whose partition drew it
    for partition in source.sources:

        def tracked(partition=partition, block=partition.next_block):  # type: ignore[no-untyped-def]
            out = block()
            for event in out.events() if out is not None else ():
                drawn_by[event.value["event_id"]] = partition.stream
            return out

        partition.next_block = tracked  # type: ignore[method-assign]
    counts = dict.fromkeys((s.stream for s in source.sources), 0)
    taken, last = 0, 0
    while taken < events and (batch := source.take(min(2000, events - taken))):
        for event in batch:
            counts[drawn_by.pop(event.value["event_id"])] += 1
        taken, last = taken + len(batch), batch[-1].time_us
    return counts, last


def rate_errors(scenario: str, events: int, workers: int) -> list[tuple[str, float, float]]:
    """Per stream: the relative error of its emitted events, unsharded and summed over `workers` shards."""
    loaded = load_scenario(scenario)
    weights = {name: config.weight for name, config in loaded.scenario.streams.items()}
    shares = dict(zip(weights, stream_shares(list(weights.values()))))
    start, speed = loaded.scenario.clock.start_us, loaded.scenario.clock.speed
    rate = loaded.scenario.phases[0].rate.rate_at(0.0, 1.0)

    def errors(counts: dict[str, int], last: int) -> dict[str, float]:
        seconds = (last - start) / 1e6 / speed
        return {name: count / (shares[name] * rate * seconds) - 1 for name, count in counts.items()}

    whole = errors(*emitted_by_stream(scenario, events, Shard()))
    parts = [emitted_by_stream(scenario, events // workers, Shard(j, workers)) for j in range(workers)]
    summed = {name: sum(part[0][name] for part in parts) for name in whole}
    sharded = errors(summed, min(part[1] for part in parts))
    return [(name, whole[name], sharded[name]) for name in whole]


def main() -> None:
    """Measure 1 process and N workers, print both and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        one = run(args.scenario, args.events, 1, Path(tmp) / "one")
        many = run(args.scenario, args.events, args.workers, Path(tmp) / "many")
    print(f"{args.scenario}, {args.events} events, file sink, --rate max")
    print(f"  1 process      : {one:,.0f} events/s")
    print(f"  --workers {args.workers:<4} : {many:,.0f} events/s")
    print(f"  ratio          : {many / one:.2f}x")
    print(f"per-stream rate error over those events (nominal rate of the first phase, {args.workers} shards summed):")
    for name, whole, sharded in rate_errors(args.scenario, args.events, args.workers):
        print(f"  {name:28s} 1 process {whole:+7.2%}   --workers {args.workers} {sharded:+7.2%}")


if __name__ == "__main__":
    main()
