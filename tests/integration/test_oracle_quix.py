"""The answer key proved by a real stream processor: Quix Streams' windows equal <prefix>expected, disorder on.

datagen plays a small transactions scenario with late, out-of-order and duplicate sends into a real
broker (Avro through the registry); examples/quix_windows/app.py, in its own venv
(scripts/quix_env.py), reads the topic to its end with the same tumbling window; the windows it
closed must be exactly the expected windows closed by watermark, count and sum alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from scripts import quix_env
from tests.conftest import real_kafka_or_why_not
from tests.helpers import consume_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOPIC = "fintech.transactions"

# ~5,900 events of 20 users over 30 event-seconds: each user has ~300 events, so most of its 1 s
# windows close by watermark; lateness (mean 1 s, up to 5 s) straddles the 500 ms grace, so some
# late events are counted and some excluded
SCENARIO = """\
name: oracle_quix
seed: 11
clock: {start: "2026-01-01T00:00:00Z"}
streams:
  fintech.transactions: {weight: 1, params: {num_users: 20}}
phases:
  - {name: steady, duration: 30s, rate: 200}
disorder:
  late_share: 0.05
  lateness: {distribution: exponential, mean: 1s, max: 5s}
  out_of_order_share: 0.05
  out_of_order_max: 300ms
  duplicate_share: 0.05
oracle:
  - name: tx_per_user
    stream: fintech.transactions
    window: 1s
    group_by: key
    sum: payload.amount
    allowed_lateness: 500ms
    duplicates: count_twice
"""


@pytest.fixture(scope="module")
def quix_python() -> Path:
    """The Quix Streams venv's python; a failure under DATAGEN_REAL_KAFKA=require when missing, else a skip."""
    if quix_env.is_ready():
        return quix_env.venv_python()
    why = f"no Quix Streams venv at {quix_env.venv_dir()} (create it: python scripts/quix_env.py)"
    if os.environ.get("DATAGEN_REAL_KAFKA") == "require":
        pytest.fail(f"DATAGEN_REAL_KAFKA=require, but {why}", pytrace=False)
    pytest.skip(why)


def scenario_file(tmp_path: Path) -> Path:
    """The scenario above, as a file."""
    path = tmp_path / "oracle_quix.yaml"
    path.write_text(SCENARIO)
    return path


def windows(rows: list[dict]) -> dict[tuple[str, int, int], tuple[int, str]]:
    """(group, start, end) -> (count, sum), refusing a window that appears twice."""
    out = {(r["group"], r["window_start"], r["window_end"]): (r["count"], r["sum"]) for r in rows}
    assert len(out) == len(rows), "a window appears twice"
    return out


def test_quix_streams_windows_equal_the_expected_topic_with_disorder_on(
    tmp_path, quix_python, kafka_bootstrap, schema_registry_url
):
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and (why := real_kafka_or_why_not()) is not None:
        pytest.skip(f"Quix Streams is proved on real Kafka only: {why}")
    prefix = f"oq-{uuid.uuid4().hex[:8]}."
    run = [sys.executable, "-m", "producer", "run", str(scenario_file(tmp_path)), "--rate", "max", "--no-metrics"]
    run += ["--bootstrap-servers", kafka_bootstrap, "--schema-registry-url", schema_registry_url]
    datagen = subprocess.run(
        [*run, "--topic-prefix", prefix, "--partitions", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert datagen.returncode == 0, datagen.stderr

    results = tmp_path / "quix.jsonl"
    app = [str(quix_python), str(ROOT / "examples" / "quix_windows" / "app.py"), "--topic", prefix + TOPIC]
    app += ["--bootstrap-servers", kafka_bootstrap, "--schema-registry-url", schema_registry_url]
    app += ["--window-ms", "1000", "--grace-ms", "500", "--sum", "payload.amount", "--out", str(results)]
    quix = subprocess.run(
        [*app, "--idle-timeout", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert quix.returncode == 0, quix.stderr[-3000:]

    registry = SchemaRegistryClient({"url": schema_registry_url})
    expected = decode(registry, prefix + "expected", consume_all(kafka_bootstrap, prefix + "expected"))
    events = decode(registry, prefix + TOPIC, consume_all(kafka_bootstrap, prefix + TOPIC))
    by_watermark = windows([r for r in expected if r["closed_by"] == "watermark"])
    still_open = windows([r for r in expected if r["closed_by"] == "end"])
    closed_by_quix = windows([json.loads(line) for line in results.read_text().splitlines()])

    # every window Quix closed is expected, with equal count and sum, and every window the
    # watermark closed Quix closed too; the windows still open at the end are in neither: Quix
    # (like any processor without an end-of-input) never closes them, so only their absence is compared
    assert closed_by_quix == by_watermark
    assert not closed_by_quix.keys() & still_open.keys()
    disorder = Counter(e["truth"]["disorder"] for e in events)
    late_excluded = sum(
        max(r["late_excluded"] for r in expected if r["group"] == g) for g in {r["group"] for r in expected}
    )
    counted = sum(r["count"] for r in expected)
    print(
        f"\nquix-oracle: events={len(events)} late={disorder['late']} out_of_order={disorder['out_of_order']} "
        f"duplicates={disorder['duplicate']} excluded_as_late={late_excluded} counted={counted} "
        f"windows_compared={len(by_watermark)} open_at_end={len(still_open)}"
    )
    assert counted + late_excluded == len(events)  # count_twice: every record is counted or excluded
    assert min(disorder["late"], disorder["out_of_order"], disorder["duplicate"], late_excluded) > 0
    assert len(by_watermark) > 300  # seed 11: ~570 of ~590 windows close by watermark


def decode(registry: SchemaRegistryClient, topic: str, messages: list) -> list[dict]:
    """Avro values of a topic's messages, read back with the registry."""
    deserializer = AvroDeserializer(registry)
    ctx = SerializationContext(topic, MessageField.VALUE)
    return [deserializer(m.value(), ctx) for m in messages]


def test_the_expected_windows_of_two_workers_are_those_of_one_process(tmp_path):
    """Shard invariance: per-key state lives in one shard, so the workers' results union to the whole."""
    scenario = scenario_file(tmp_path)
    base = [sys.executable, "-m", "producer", "run", str(scenario), "--sink", "file", "--format", "jsonl"]
    base += ["--no-metrics", "--rate", "max"]
    for out, extra in (("one", []), ("two", ["--workers", "2"])):
        done = subprocess.run(
            [*base, "--out", str(tmp_path / out), *extra], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    one = read_lines(tmp_path / "one" / "expected.jsonl")
    two = [r for worker in ("worker-0", "worker-1") for r in read_lines(tmp_path / "two" / worker / "expected.jsonl")]
    assert one and Counter(map(json.dumps, one)) == Counter(map(json.dumps, two))
    assert {r["group"] for r in read_lines(tmp_path / "two" / "worker-0" / "expected.jsonl")}.isdisjoint(
        r["group"] for r in read_lines(tmp_path / "two" / "worker-1" / "expected.jsonl")
    )


def read_lines(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines()]
