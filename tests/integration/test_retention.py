"""Event-time record timestamps on real Kafka: retention must not delete what datagen delivered, and a clock
too far in the past for Kafka's idempotence bookkeeping is named in a warning."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from scripts.real_kafka import KafkaCluster
from tests.conftest import real_kafka_or_why_not
from tests.helpers import consume_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "tests" / "fixtures" / "transactions.yaml")  # clock from 2026-01-01: event times months old
CHECK_EVERY_MS = 500  # the broker's retention check (default 5 min), so a deletion would happen within the test


@pytest.fixture(scope="module")
def eager_retention_broker(tmp_path_factory: pytest.TempPathFactory):
    """A real broker with Kafka's default retention (7 days) checked twice a second."""
    why = real_kafka_or_why_not()
    if why is not None:
        pytest.skip(why)
    overrides = {"log.retention.check.interval.ms": str(CHECK_EVERY_MS), "log.initial.task.delay.ms": "0"}
    with KafkaCluster(1, workdir=tmp_path_factory.mktemp("kafka"), overrides=overrides) as cluster:
        yield cluster.bootstrap_servers


def run(bootstrap: str, registry: str, prefix: str, scenario: str = SCENARIO) -> subprocess.CompletedProcess[str]:
    """Two thousand transactions to `prefix`fintech.transactions."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "producer", "run", scenario, "--events", "2000", "--rate", "max", "--no-metrics"),
            *("--bootstrap-servers", bootstrap, "--schema-registry-url", registry, "--topic-prefix", prefix),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_topics_datagen_creates_keep_events_whatever_their_event_time(eager_retention_broker, schema_registry_url):
    done = run(eager_retention_broker, schema_registry_url, "kept.")
    assert done.returncode == 0, done.stderr
    time.sleep(6 * CHECK_EVERY_MS / 1000)  # several retention checks
    assert len(consume_all(eager_retention_broker, "kept.fintech.transactions", timeout=30)) == 2000
    admin = AdminClient({"bootstrap.servers": eager_retention_broker})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "kept.fintech.transactions")
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["retention.ms"].value == "-1"


def test_an_existing_topic_that_would_delete_the_events_is_named_in_a_warning(
    eager_retention_broker, schema_registry_url
):
    admin = AdminClient({"bootstrap.servers": eager_retention_broker})
    topic = "ours.fintech.transactions"
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=30)
    done = run(eager_retention_broker, schema_registry_url, "ours.")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "retention.ms=604800000" in line]
    assert len(warnings) == 1, done.stderr
    assert topic in warnings[0] and "2026-01-01" in warnings[0] and "retention.ms=-1" in warnings[0]


def expiration_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "producer.id.expiration.ms=86400000" in line]


def test_a_clock_months_back_warns_that_duplicates_can_follow_a_broker_crash(
    eager_retention_broker, schema_registry_url, tmp_path
):
    done = run(eager_retention_broker, schema_registry_url, "old.")
    assert done.returncode == 0, done.stderr
    (warning,) = expiration_warnings(done.stderr)
    assert "from 2026-01-01T00:00:00+00:00" in warning and "written twice" in warning
    recent = tmp_path / "recent.yaml"
    start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent.write_text(Path(SCENARIO).read_text().replace("seed: 42", f'seed: 42\nclock: {{start: "{start}"}}'))
    done = run(eager_retention_broker, schema_registry_url, "recent.", str(recent))
    assert done.returncode == 0, done.stderr
    assert expiration_warnings(done.stderr) == []
