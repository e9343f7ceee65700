"""End-to-end throughput: `datagen run --rate max` vs a plain confluent-kafka loop, on one broker.

Usage: python benchmarks/bench_e2e.py [--events N] [--scenario steady_state] [--repeats R] [--baseline DIR]

Uses KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL when set, else starts the embedded Tansu
broker and the local schema registry. Prints events/s of both and their ratio; asserts nothing.
With --baseline DIR (a source tree of another release, e.g. `git archive v0.9 | tar -x -C DIR`),
that release's `datagen run` is played too, alternating with this one on the same broker, and
the ratio this/baseline is printed: over producing time (the summary's rate) and over the whole
process (start-up and warm-up included).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from producer.sinks.kafka import DEFAULTS  # noqa: E402 - same producer settings as datagen


def run_datagen(
    bootstrap: str, registry: str, scenario: str, events: int, prefix: str, tree: Path = ROOT
) -> tuple[float, float, float]:
    """events/s over producing time, events/s over the whole process, and mean value bytes of one run at --rate max."""
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "producer",
            "run",
            scenario,
            "--rate",
            "max",
            "--events",
            str(events),
            "--bootstrap-servers",
            bootstrap,
            "--schema-registry-url",
            registry,
            "--topic-prefix",
            prefix,
            "--no-metrics",
            "--log-level",
            "WARNING",
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    ).stdout
    whole = time.perf_counter() - started
    elapsed = float(re.search(r"elapsed=([\d.]+)s", out).group(1))
    total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+) (B|KiB|MiB|GiB)", out, re.M)
    delivered = int(total.group(2))
    scale = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[total.group(5)]
    return delivered / elapsed, delivered / whole, float(total.group(4)) * scale / delivered


def _runs(rates: list[float]) -> str:
    return ", ".join(f"{x:,.0f}" for x in rates)


def run_raw(bootstrap: str, events: int, size: int, topic: str) -> float:
    """events/s of a plain produce loop with pre-encoded payloads of `size` bytes, same settings."""
    producer = Producer({"bootstrap.servers": bootstrap, **DEFAULTS})
    payloads = [os.urandom(size) for _ in range(1024)]
    keys = [f"user-{i}".encode() for i in range(500)]
    delivered = 0

    def on_delivery(err, msg) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1

    start = time.perf_counter()
    for i in range(events):
        while True:
            try:
                producer.produce(topic, payloads[i & 1023], keys[i % 500], on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 2000 == 0:
            producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - start
    assert delivered == events, f"raw loop delivered {delivered}/{events}"
    return events / elapsed


def main() -> None:
    """Measure both, print figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scenario", default="steady_state")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="source tree of the release to compare with")
    args = parser.parse_args()
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        registry = os.environ.get("SCHEMA_REGISTRY_URL")
        if not bootstrap:
            from producer.embedded.broker import EmbeddedBroker

            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap_servers
        if not registry:
            from producer.embedded.registry import LocalSchemaRegistry

            data = stack.enter_context(tempfile.TemporaryDirectory())
            registry = stack.enter_context(LocalSchemaRegistry(data_dir=data)).url
        datagen_rates, whole_rates, raw_rates, sizes, base_rates, base_whole = [], [], [], [], [], []
        for r in range(args.repeats):
            rate, whole, size = run_datagen(bootstrap, registry, args.scenario, args.events, f"bench{r}.")
            datagen_rates.append(rate)
            whole_rates.append(whole)
            sizes.append(size)
            if args.baseline is not None:
                rate, whole, _ = run_datagen(
                    bootstrap, registry, args.scenario, args.events, f"base{r}.", args.baseline.resolve()
                )
                base_rates.append(rate)
                base_whole.append(whole)
            raw_rates.append(run_raw(bootstrap, args.events, round(size), f"bench-raw{r}"))
        d, w, c = statistics.median(datagen_rates), statistics.median(whole_rates), statistics.median(raw_rates)
        print(f"broker: {bootstrap}  scenario: {args.scenario}  events per run: {args.events}  repeats: {args.repeats}")
        print(f"mean value size: {statistics.mean(sizes):.0f} bytes")
        print(f"datagen run --rate max (end to end): {d:,.0f} events/s  (runs: {_runs(datagen_rates)})")
        print(f"  over the whole process:            {w:,.0f} events/s  (runs: {_runs(whole_rates)})")
        if args.baseline is not None:
            b, bw = statistics.median(base_rates), statistics.median(base_whole)
            print(f"baseline {args.baseline}:  {b:,.0f} events/s  (runs: {_runs(base_rates)})")
            print(f"  over the whole process:            {bw:,.0f} events/s  (runs: {_runs(base_whole)})")
            print(f"ratio datagen / baseline: {d / b:.2f} (producing time), {w / bw:.2f} (whole process)")
        print(f"raw confluent-kafka loop (ceiling):  {c:,.0f} events/s  (runs: {_runs(raw_rates)})")
        print(f"ratio datagen / ceiling: {d / c:.2f}")


if __name__ == "__main__":
    main()
