"""Machinery of the fault tests: a `datagen run` subprocess, its summary and metrics, and an outside consumer.

The consumer is not datagen's: a plain confluent-kafka Consumer (read_committed) with the registry's
AvroDeserializer, counting distinct event_ids and duplicates over every topic the run wrote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from producer.embedded.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
RATE = 5000  # events/s: busy enough that every partition has records in flight when a fault strikes
TOPIC = "fintech.transactions"  # the busy topic whose partition leaders the tests strike
# Event time starts at the run's wall-clock time, not in the past as bundled scenarios do: Kafka expires an
# idempotent producer's state by its records' timestamps (producer.id.expiration.ms, 1 day), so a broker that
# reloads its logs after a crash forgets a producer whose records are stamped months ago and accepts its
# retried batches again (measured here: 71 and 32 duplicates after a whole-cluster SIGKILL with the default
# 2026-01-01 start, 0 with a start of "now"). Retention (7 days) is keyed on record timestamps the same way.
SCENARIO = """\
name: faults
seed: 11
clock: {{start: "{start}"}}
streams:
  fintech.transactions: {{weight: 1}}
phases:
  - {{name: steady, duration: 1h, rate: {rate}}}
"""
LINGER = 4.0  # seconds the run keeps serving /metrics after its summary: the final counters are read then


def scenario_text(start: str | None = None) -> str:
    """The faults scenario, its event time starting at `start`, else now (UTC)."""
    return SCENARIO.format(start=start or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), rate=RATE)


_ROW = re.compile(r"^\s{2}(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+$")


@dataclass
class Summary:
    """The end-of-run summary's table: (produced, delivered, failed) per topic, and the total row."""

    topics: dict[str, tuple[int, int, int]]
    produced: int
    delivered: int
    failed: int


def parse_summary(stdout: str) -> Summary:
    """The table after the `summary:` line of a run's stdout; AssertionError when there is none."""
    _, found, table = stdout.partition("summary:")
    assert found, f"no summary in stdout:\n{stdout}"
    rows = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for line in table.splitlines() if (m := _ROW.match(line))}
    total = rows.pop("total")
    return Summary(rows, *total)


class DatagenRun:
    """`python -m producer run` of the faults scenario against a cluster, output kept in files under `tmp`."""

    def __init__(
        self, tmp: Path, bootstrap: str, registry_url: str, duration: float, *extra: str, clock_start: str | None = None
    ) -> None:
        self.tmp = tmp
        self.port = free_port()
        scenario = tmp / "faults.yaml"
        scenario.write_text(scenario_text(clock_start))
        self.stdout_path, self.stderr_path = tmp / "datagen.stdout", tmp / "datagen.stderr"
        command = [sys.executable, "-m", "producer", "run", str(scenario), "--duration", f"{duration:g}s"]
        command += ["--bootstrap-servers", bootstrap, "--schema-registry-url", registry_url]
        command += ["--metrics-port", str(self.port), "--linger", f"{LINGER:g}s", *extra]
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, text=True)
        self.started = time.monotonic()
        self.duration = duration

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr_tail(self, lines: int = 60) -> str:
        """The last lines of its stderr (its log), for assertion messages."""
        return "\n".join(self.stderr_path.read_text().splitlines()[-lines:])

    def wait_delivered(self, count: int, timeout: float = 90.0) -> None:
        """Wait until the run's /metrics counts `count` delivered events (it is playing, the topic exists)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"datagen exited {self.proc.returncode}:\n{self.stderr_tail()}"
            if self.delivered_counter() >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} delivered after {timeout:g}s:\n{self.stderr_tail()}")

    def metrics(self) -> str:
        """The /metrics text, or "" while the server does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as answer:
                return answer.read().decode()
        except (OSError, urllib.error.URLError):
            return ""

    def delivered_counter(self) -> int:
        """datagen_delivered_events_total summed over topics, as /metrics says now."""
        return self.counters()["delivered"]

    def readyz(self) -> int | None:
        """The /readyz status code, or None when the server does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

    def counters(self) -> dict[str, int]:
        """The delivery counters of /metrics (produced, delivered, failed; summed over topics), now."""
        text, out = self.metrics(), {}
        for name in ("produced", "delivered", "failed"):
            pattern = rf"^datagen_{name}_events_total\{{[^}}]*\}} (\S+)$"
            out[name] = int(sum(float(v) for v in re.findall(pattern, text, flags=re.M)))
        return out

    def finish(self, timeout: float) -> tuple[int, dict[str, int]]:
        """The exit code and the final /metrics counters (read while it lingers), waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        final: dict[str, int] = {}
        while time.monotonic() < deadline and self.proc.poll() is None:
            if "run ended; serving metrics" in self.stdout:  # the summary is out, the counters are final
                final = self.counters()
                break
            time.sleep(0.2)
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic())), final
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"datagen still running {timeout:g}s past its end:\n{self.stderr_tail()}") from None

    def kill(self) -> None:
        """Clean-up after a failed test: no datagen outlives it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class ReadyzPoller:
    """Polls /readyz from a thread every `interval` s; `changes` lists (seconds since start, code) on each change."""

    run: DatagenRun
    interval: float = 0.25
    changes: list[tuple[float, int | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        last: int | str | None = "unset"
        while not self._stop.is_set() and self.run.proc.poll() is None:
            code = self.run.readyz()
            if code != last:
                self.changes.append((round(time.monotonic() - self.run.started, 2), code))
                last = code
            self._stop.wait(self.interval)

    def stop(self) -> list[tuple[float, int | None]]:
        """Stop polling; the changes seen."""
        self._stop.set()
        self._thread.join(5)
        return self.changes


@dataclass
class Consumed:
    """What the outside consumer read: records, distinct event_ids and the extra copies of any of them."""

    records: int
    distinct: int
    duplicates: int


def consume_events(bootstrap: str, registry_url: str, topics: list[str], timeout: float = 180.0) -> Consumed:
    """Every committed record of `topics` (read_committed, Avro via the registry), counted by event_id."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"faults-check-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    registry = SchemaRegistryClient({"url": registry_url})
    deserializers = {topic: event_id_reader(registry, topic) for topic in topics}
    seen: Counter[str] = Counter()
    try:
        ends = _end_offsets(consumer, topics, timeout)
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for (t, p), end in ends.items() if end > 0])
        pending = {tp for tp, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"not at the end of {sorted(pending)} after {timeout:g}s"
            for message in consumer.consume(num_messages=2000, timeout=0.5):
                where, error = (str(message.topic()), int(message.partition() or 0)), message.error()
                if error is None:
                    event: Any = deserializers[where[0]](message.value())
                    seen[str(event["event_id"])] += 1
                elif error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                elif (message.offset() or 0) >= ends[where]:
                    pending.discard(where)
    finally:
        consumer.close()
    records = sum(seen.values())
    return Consumed(records, len(seen), records - len(seen))


def event_id_reader(registry: SchemaRegistryClient, topic: str) -> AvroDeserializer:
    """An AvroDeserializer of `topic`'s values whose reader schema keeps only `event_id`.

    Each record is still decoded against its writer schema, fetched from the registry by the schema id
    it carries; the projection (Avro schema resolution) skips building the rest, ~6x faster than a full
    decode (17 vs 104 us a record here), and no SerializationContext is passed, which skips the
    data-contract rule pass (no rules are registered) that costs another ~0.3 ms a record.
    """
    writer = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str or "{}")
    fields = [f for f in writer["fields"] if f["name"] == "event_id"]
    assert fields, f"{topic}: no event_id in its registered schema"
    reader = {"type": "record", "name": writer["name"], "namespace": writer.get("namespace", ""), "fields": fields}
    return AvroDeserializer(registry, schema_str=json.dumps(reader))


def _end_offsets(consumer: Consumer, topics: list[str], timeout: float) -> dict[tuple[str, int], int]:
    """The high watermark of every partition of `topics` (read once the producer is done)."""
    ends = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        for partition in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            ends[(topic, partition)] = high
    return ends


def record_figures(path: Path, test: str, figures: dict[str, Any]) -> None:
    """One JSON line per test: appended to `path` and printed (pytest shows it with -s or on failure)."""
    line = json.dumps({"test": test, **figures}, sort_keys=False)
    with open(path, "a") as out:
        out.write(line + "\n")
    print(f"FIGURES {line}")


def outcome(run: DatagenRun, bootstrap: str, registry_url: str, finish_timeout: float) -> dict[str, Any]:
    """Wait for the run to end; its exit code, summary and final counters beside what the outside consumer read."""
    exit_code, final = run.finish(finish_timeout)
    run_s = time.monotonic() - run.started
    summary = parse_summary(run.stdout)
    consumed = consume_events(bootstrap, registry_url, sorted(summary.topics))
    return {
        "exit_code": exit_code,
        "produced": summary.produced,
        "delivered": summary.delivered,
        "failed": summary.failed,
        "delivered_counter": final.get("delivered"),
        "failed_counter": final.get("failed"),
        "consumed_records": consumed.records,
        "consumed_distinct": consumed.distinct,
        "duplicates": consumed.duplicates,
        "topics": sorted(summary.topics),
        "run_s": round(run_s, 1),
    }
