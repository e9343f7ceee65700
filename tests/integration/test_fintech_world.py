"""One fintech world on a broker: an account-takeover chain followed across three topics by truth.episode_id.

`datagen run` writes sessions, transactions and remittances to a real broker with labels inline; an
independent consumer (confluent-kafka's AvroDeserializer against the registry) reads the three
topics back and follows each chain by its episode_id. The same scenario with --labels topic (file
sink: the ground-truth records are the same whatever the sink) shows each chain as one episode.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from producer.cli import main
from tests.helpers import consume_all

pytestmark = pytest.mark.integration
CHAIN_TOPICS = ("fintech.sessions", "fintech.transactions", "fintech.remittances")
KEY_FIELD = {"fintech.sessions": "user_id", "fintech.transactions": "user_id", "fintech.remittances": "sender_id"}
# 40 event minutes (speed 60), ~24k events; 300 users the three pools share x 0.3 chains per user-hour:
# ~60 chains, those started in the first ~15 minutes complete within the run
SCENARIO = """
name: fintech_world_kafka
seed: 17
clock: {start: "2026-05-04T12:00:00Z", speed: 60}
virtual_partitions: 2
streams:
  fintech.sessions: {weight: 0.4, params: {account_takeover_chain_rate: 0.3}}
  fintech.transactions: {weight: 0.35}
  fintech.remittances: {weight: 0.25}
phases:
  - {name: steady, duration: 40s, rate: 600}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> str:
    path = tmp_path / "fintech_world.yaml"
    path.write_text(SCENARIO)
    return str(path)


def test_a_chain_is_followed_across_three_topics_by_episode_id(scenario, kafka_bootstrap, schema_registry_url):
    prefix = f"world{os.getpid()}."
    argv = ["run", scenario, "--bootstrap-servers", kafka_bootstrap, "--schema-registry-url", schema_registry_url]
    assert main([*argv, "--topic-prefix", prefix, "--labels", "inline", "--rate", "max", "--no-metrics"]) == 0
    registry = SchemaRegistryClient({"url": schema_registry_url})
    chains: dict[str, list[tuple[int, str, str, str]]] = defaultdict(list)  # id -> (time ms, topic, type, user)
    for stream in CHAIN_TOPICS:
        topic = prefix + stream
        deserializer, ctx = AvroDeserializer(registry), SerializationContext(topic, MessageField.VALUE)
        messages = consume_all(kafka_bootstrap, topic, timeout=60)
        assert messages, topic
        for message in messages:
            value = deserializer(message.value(), ctx)
            episode = value["truth"]["episode_id"]
            if episode is not None:
                assert value["truth"]["pattern"] == "account_takeover" and value["truth"]["is_anomaly"]
                user = str(value["payload"][KEY_FIELD[stream]])  # a uuid logical type
                assert message.key().decode() == user  # keyed by user: a chain's events partition by its user
                chains[episode].append((message.timestamp()[1], stream, value["event_type"], user))
    complete = {e: sorted(steps) for e, steps in chains.items() if {s for _, s, _, _ in steps} == set(CHAIN_TOPICS)}
    # seed 17: 56 chains, 44 with all three steps in the run (the rest started late); at least 10 asked
    assert len(complete) >= 10, (len(chains), len(complete))
    for episode, steps in complete.items():
        assert len({user for *_, user in steps}) == 1, episode  # one user on all three topics
        first = {stream: min(t for t, s, _, _ in steps if s == stream) for stream in CHAIN_TOPICS}
        last_tx = max(t for t, s, _, _ in steps if s == "fintech.transactions")
        # the takeover login, then the fraudulent transactions, then the cash-out remittance
        assert first["fintech.sessions"] < first["fintech.transactions"] <= last_tx < first["fintech.remittances"]
        assert steps[0][2] == "login-attempt"


def test_each_chain_is_one_episode_on_the_ground_truth_topic(scenario, tmp_path):
    out = tmp_path / "out"
    argv = ["run", scenario, "--sink", "file", "--format", "jsonl", "--out", str(out), "--rate", "max"]
    assert main([*argv, "--labels", "topic", "--no-metrics"]) == 0
    records = [json.loads(line) for line in (out / "ground-truth.jsonl").read_text().splitlines()]
    labelled = defaultdict(set)  # chain id -> topics of its events' label records
    for record in records:
        if record["kind"] == "event" and record["truth"]["episode_id"]:
            labelled[record["truth"]["episode_id"]].add(record["topic"])
    episodes = [r for r in records if r["kind"] == "episode" and r["episode"]["episode_id"] in labelled]
    ids = [r["episode"]["episode_id"] for r in episodes]
    assert len(ids) == len(set(ids)) == len(labelled)  # one episode record per chain
    full = [r for r in episodes if len(r["episode"]["topics"]) == 3]
    assert len(full) >= 10
    for record in full:
        assert record["topic"] == "fintech.sessions" and record["episode"]["pattern"] == "account_takeover"
        assert record["episode"]["topics"] == list(CHAIN_TOPICS)
        assert set(record["episode"]["topics"]) == labelled[record["episode"]["episode_id"]]
