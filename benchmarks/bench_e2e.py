"""End-to-end throughput: `datagen run --rate max` vs a plain confluent-kafka loop, on one broker.

Usage: python benchmarks/bench_e2e.py [--events N] [--scenario stress_test] [--repeats R] [--workers N]
                                     [--baseline DIR] [--broker embedded|real]

Uses KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL when set, else starts the embedded Tansu
broker and the local schema registry. With --broker real it starts one Apache Kafka node from the
jars instead (scripts/real_kafka.py, topics of 6 partitions as datagen creates them), whatever
KAFKA_BOOTSTRAP_SERVERS says. Prints events/s of both and their ratio; asserts nothing.
With --baseline DIR (a source tree of another release, e.g. `git archive v0.9 | tar -x -C DIR`),
that release's `datagen run` is played too, alternating with this one on the same broker, and
the ratio this/baseline is printed: over producing time (the summary's rate) and over the whole
process (start-up and warm-up included). With --workers N (default 2; 1 skips it) every datagen
run is also played with `--workers N`, so one process and N processes are compared on one broker.
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
    bootstrap: str, registry: str, scenario: str, events: int, prefix: str, tree: Path = ROOT, workers: int = 1
) -> tuple[float, float, float]:
    """events/s over producing time, events/s over the whole process, and mean value bytes of one run at --rate max."""
    more = ["--workers", str(workers)] if workers > 1 else []
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
            *more,
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


def _broker(stack: ExitStack, kind: str) -> tuple[str, str, str]:
    """Broker, registry and what the broker is: real Kafka if asked, else the environment's, else the embedded ones."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    registry = os.environ.get("SCHEMA_REGISTRY_URL")
    label = "KAFKA_BOOTSTRAP_SERVERS"
    if kind == "real":
        from scripts.real_kafka import KAFKA_VERSION, KafkaCluster

        bootstrap = stack.enter_context(KafkaCluster(1, overrides={"num.partitions": "6"})).bootstrap_servers
        label = f"Apache Kafka {KAFKA_VERSION} (1 node, jars)"
    if not bootstrap:
        from producer.embedded.broker import EmbeddedBroker

        bootstrap, label = stack.enter_context(EmbeddedBroker()).bootstrap_servers, "embedded Tansu"
    if not registry:
        from producer.embedded.registry import LocalSchemaRegistry

        data = stack.enter_context(tempfile.TemporaryDirectory())
        registry = stack.enter_context(LocalSchemaRegistry(data_dir=data)).url
    return bootstrap, registry, label


def _variants(args: argparse.Namespace) -> list[tuple[str, Path, int]]:
    """(label, source tree, workers) of every datagen configuration measured."""
    trees = [("datagen", ROOT)]
    if args.baseline is not None:
        trees.append((f"baseline {args.baseline.name}", args.baseline.resolve()))
    counts = [1] if args.workers <= 1 else [1, args.workers]
    return [(f"{name}, {'1 process' if n == 1 else f'--workers {n}'}", tree, n) for name, tree in trees for n in counts]


def main() -> None:
    """Measure every variant and the raw ceiling, alternating, on one broker; print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--scenario", default="stress_test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="also measure --workers N (1: one process only)")
    parser.add_argument("--baseline", type=Path, help="source tree of the release to compare with")
    parser.add_argument("--broker", choices=["embedded", "real"], default="embedded", help="real: Apache Kafka jars")
    args = parser.parse_args()
    variants = _variants(args)
    rates: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    whole: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    raw_rates, sizes = [], []
    with ExitStack() as stack:
        bootstrap, registry, broker = _broker(stack, args.broker)
        for r in range(args.repeats):
            for v, (label, tree, workers) in enumerate(variants):
                rate, whole_rate, size = run_datagen(
                    bootstrap, registry, args.scenario, args.events, f"bench{r}-{v}.", tree, workers
                )
                rates[label].append(rate)
                whole[label].append(whole_rate)
                sizes.append(size)
            raw_rates.append(run_raw(bootstrap, args.events, round(statistics.mean(sizes)), f"bench-raw{r}"))
    ceiling = statistics.median(raw_rates)
    print(f"broker: {broker} at {bootstrap}")
    print(f"scenario: {args.scenario}  events per run: {args.events}  repeats: {args.repeats}")
    print(f"mean value size: {statistics.mean(sizes):.0f} bytes; figures are medians, events/s end to end")
    print(f"raw confluent-kafka loop (ceiling): {ceiling:,.0f} events/s  (runs: {_runs(raw_rates)})")
    print(f"{'variant':36s} {'producing':>11s} {'whole process':>14s} {'/ ceiling':>10s}  runs (producing)")
    for label, _, _ in variants:
        d, w = statistics.median(rates[label]), statistics.median(whole[label])
        print(f"{label:36s} {d:11,.0f} {w:14,.0f} {d / ceiling:10.2f}  {_runs(rates[label])}")
    _print_ratios(variants, rates, whole)


def _print_ratios(variants: list[tuple[str, Path, int]], rates: dict, whole: dict) -> None:
    """Each datagen variant against the baseline with the same workers, and N workers against one process."""
    median = statistics.median
    labels = [label for label, _, _ in variants]
    ours = [label for label in labels if label.startswith("datagen")]
    for label in ours:
        mode = label.split(", ")[1]
        base = next((b for b in labels if not b.startswith("datagen") and b.endswith(mode)), None)
        if base is not None:
            print(
                f"ratio {label} / baseline: {median(rates[label]) / median(rates[base]):.2f} (producing), "
                f"{median(whole[label]) / median(whole[base]):.2f} (whole process)"
            )
    if len(ours) > 1:
        one, many = ours
        print(f"ratio {many.split(', ')[1]} / 1 process: {median(rates[many]) / median(rates[one]):.2f} (producing)")


if __name__ == "__main__":
    main()
