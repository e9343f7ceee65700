"""End-to-end throughput: `datagen run --rate max` vs a plain confluent-kafka loop, on one broker.

Usage: python benchmarks/bench_e2e.py [--events N] [--scenario steady_state] [--repeats R]

Uses KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL when set, else starts the embedded Tansu
broker and the local schema registry. Prints events/s of both and their ratio; asserts nothing.
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


def run_datagen(bootstrap: str, registry: str, scenario: str, events: int, prefix: str) -> tuple[float, float]:
    """events/s and mean value bytes of one `datagen run` at --rate max."""
    out = subprocess.run(
        [sys.executable, "-m", "producer", "run", scenario, "--rate", "max", "--events", str(events),
         "--bootstrap-servers", bootstrap, "--schema-registry-url", registry, "--topic-prefix", prefix,
         "--no-metrics", "--log-level", "WARNING"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    elapsed = float(re.search(r"elapsed=([\d.]+)s", out).group(1))
    total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+) (B|KiB|MiB|GiB)", out, re.M)
    delivered = int(total.group(2))
    scale = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[total.group(5)]
    return delivered / elapsed, float(total.group(4)) * scale / delivered


def run_raw(bootstrap: str, events: int, size: int, topic: str) -> float:
    """events/s of a plain produce loop with pre-encoded payloads of `size` bytes, same settings."""
    producer = Producer({"bootstrap.servers": bootstrap, **DEFAULTS})
    payloads = [os.urandom(size) for _ in range(1024)]
    keys = [f"user-{i}".encode() for i in range(500)]
    delivered = 0

    def on_delivery(err, msg) -> None:  # noqa: ANN001
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
        datagen_rates, raw_rates, sizes = [], [], []
        for r in range(args.repeats):
            rate, size = run_datagen(bootstrap, registry, args.scenario, args.events, f"bench{r}.")
            datagen_rates.append(rate)
            sizes.append(size)
            raw_rates.append(run_raw(bootstrap, args.events, round(size), f"bench-raw{r}"))
        d, c = statistics.median(datagen_rates), statistics.median(raw_rates)
        print(f"broker: {bootstrap}  scenario: {args.scenario}  events per run: {args.events}  repeats: {args.repeats}")
        print(f"mean value size: {statistics.mean(sizes):.0f} bytes")
        print(f"datagen run --rate max (end to end): {d:,.0f} events/s  (runs: {', '.join(f'{x:,.0f}' for x in datagen_rates)})")
        print(f"raw confluent-kafka loop (ceiling):  {c:,.0f} events/s  (runs: {', '.join(f'{x:,.0f}' for x in raw_rates)})")
        print(f"ratio datagen / ceiling: {d / c:.2f}")


if __name__ == "__main__":
    main()
