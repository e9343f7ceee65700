"""Delayed labels on a real broker: the labels topic, Avro through the registry, read back and decoded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.helpers import consume_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# four fintech streams, clock.speed 200,000: 8,000 events span ~12 event-days, so days of delay pass
SCENARIO = str(ROOT / "tests" / "fixtures" / "delayed_labels.yaml")


def test_labels_topic_is_read_back_with_the_registry_and_timestamped_at_label_time(
    kafka_bootstrap, schema_registry_url
):
    prefix = f"dl{os.getpid()}."
    argv = ["run", SCENARIO, "--events", "8000", "--rate", "max", "--topic-prefix", prefix, "--partitions", "3"]
    argv += ["--bootstrap-servers", kafka_bootstrap, "--schema-registry-url", schema_registry_url, "--no-metrics"]
    done = subprocess.run(
        [sys.executable, "-m", "producer", *argv], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    made, due, early = map(
        int, re.search(r"delayed labels: (\d+) made; (\d+) sent when due, (\d+)", done.stdout).groups()
    )
    assert made == due + early and due > 100, done.stdout  # most labels came due inside the run

    topic = prefix + "labels"
    messages = consume_all(kafka_bootstrap, topic, timeout=60)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": schema_registry_url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    labels = [deserializer(m.value(), ctx) for m in messages]
    assert len(labels) == made
    assert {label["kind"] for label in labels} == {"confirmed_fraud", "chargeback"}
    by_partition = defaultdict(list)
    for message, label in zip(messages, labels):
        assert message.timestamp()[1] == int(label["label_time"].timestamp() * 1000)
        assert message.key().decode() == label["entity_key"] and label["topic"].startswith(prefix)
        assert label["label_time"] > label["event_time"]
        by_partition[message.partition()].append(message.timestamp()[1])
    for stamps in by_partition.values():
        assert stamps == sorted(stamps)  # sent in label-time order
    # the event topics are as without delayed labels: --labels inline by default, truth in each event
    events = consume_all(kafka_bootstrap, prefix + "fintech.transactions", timeout=60)
    event_ctx = SerializationContext(prefix + "fintech.transactions", MessageField.VALUE)
    assert deserializer(events[0].value(), event_ctx)["truth"] is not None
