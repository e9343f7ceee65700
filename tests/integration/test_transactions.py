"""`--transactional-id` on real Kafka: every batch one transaction, counted when it commits.

With a frozen broker and a signal, the open batch is counted failed, and read_committed consumers then
see exactly the delivered events: the plain sink can only promise "at least" there (README: Guarantees).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.real_kafka import KafkaCluster
from tests.conftest import real_kafka_or_why_not
from tests.faults.harness import consume_events, parse_summary
from tests.helpers import consume_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "tests" / "fixtures" / "transactions.yaml")
TOPIC = "fintech.transactions"


@pytest.fixture()
def broker(tmp_path: Path):
    """One real Kafka node of this test's own, so that the test may freeze it."""
    why = real_kafka_or_why_not()
    if why is not None:
        pytest.skip(why)
    with KafkaCluster(1, workdir=tmp_path / "kafka") as cluster:
        yield cluster


def datagen(broker: KafkaCluster, registry: str, *extra: str) -> subprocess.Popen[str]:
    """`datagen run` of one transactions stream into `broker`, transactional."""
    command = [sys.executable, "-m", "producer", "run", SCENARIO, "--no-metrics", "--transactional-id", "it-txn"]
    command += ["--bootstrap-servers", broker.bootstrap_servers, "--schema-registry-url", registry, *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_every_committed_event_is_read_once_by_a_read_committed_consumer(broker, schema_registry_url):
    proc = datagen(broker, schema_registry_url, "--events", "6000", "--rate", "3000")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = parse_summary(out)
    assert summary.produced == summary.delivered == 6000 and summary.failed == 0
    consumed = consume_events(broker.bootstrap_servers, schema_registry_url, [TOPIC], timeout=60)
    assert (consumed.distinct, consumed.duplicates) == (6000, 0)
    assert "transactional.id=it-txn" in err  # the producer config line names it


def test_a_batch_that_cannot_commit_is_failed_and_invisible_to_read_committed(broker, schema_registry_url):
    timeouts = ("-X", "message.timeout.ms=8000", "-X", "transaction.timeout.ms=8000")
    proc = datagen(broker, schema_registry_url, "--rate", "2000", "--duration", "5m", *timeouts)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("kafka:") and proc.stdout.readline().startswith("playing")
    time.sleep(3)  # a few committed batches
    broker.freeze(1)
    time.sleep(2)  # a batch is open and cannot commit
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=10)  # the first signal ends any run within 10 s
    finally:
        broker.thaw(1)
    assert proc.returncode == 4, err
    summary = parse_summary(out)
    assert summary.failed > 0 and summary.delivered > 0
    assert summary.delivered + summary.failed == summary.produced
    # the broker aborts the open transaction after transaction.timeout.ms; then the stable offset moves on
    committed = consume_all(
        broker.bootstrap_servers, TOPIC, timeout=60, extra_config={"isolation.level": "read_committed"}
    )
    every = consume_all(
        broker.bootstrap_servers, TOPIC, timeout=60, extra_config={"isolation.level": "read_uncommitted"}
    )
    assert len(committed) == summary.delivered
    assert len(every) >= len(committed)
