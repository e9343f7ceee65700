"""scripts/real_kafka.py: the jar fetch fails with one clear reason, and node configs are what the tests rely on."""

from __future__ import annotations

import pytest

from scripts import real_kafka
from scripts.real_kafka import KafkaCluster, RealKafkaUnavailable


def test_fetch_without_maven_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_KAFKA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn
    with pytest.raises(RealKafkaUnavailable, match="needs `java` on PATH"):
        real_kafka.fetch_jars()
    assert real_kafka.available() == "real Kafka needs `java` on PATH, found none"


def _configs(cluster: KafkaCluster) -> list[dict[str, str]]:
    out = []
    for node in cluster.nodes:
        cluster._write_config(node)
        lines = (node.home / "server.properties").read_text().splitlines()
        out.append(dict(line.split("=", 1) for line in lines))
    return out


def test_three_nodes_replicate_everything_three_times_with_two_in_sync(tmp_path, monkeypatch):
    monkeypatch.setattr(real_kafka, "fetch_jars", lambda version=real_kafka.KAFKA_VERSION: tmp_path / "lib")
    configs = _configs(KafkaCluster(3, workdir=tmp_path))
    assert {c["controller.quorum.voters"] for c in configs} == {configs[0]["controller.quorum.voters"]}
    assert configs[0]["controller.quorum.voters"].count("@127.0.0.1:") == 3
    for key, value in {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
    }.items():
        assert {c[key] for c in configs} == {value}
    assert [c["node.id"] for c in configs] == ["1", "2", "3"]
    assert all(c["listeners"].startswith("PLAINTEXT://127.0.0.1:") for c in configs)


def test_one_node_needs_no_replicas(tmp_path, monkeypatch):
    monkeypatch.setattr(real_kafka, "fetch_jars", lambda version=real_kafka.KAFKA_VERSION: tmp_path / "lib")
    (config,) = _configs(KafkaCluster(1, workdir=tmp_path))
    assert config["default.replication.factor"] == "1" and config["min.insync.replicas"] == "1"
    assert config["offsets.topic.replication.factor"] == "1"
