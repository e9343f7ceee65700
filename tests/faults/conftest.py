"""Fixtures of the fault tests: a fresh three-node Apache Kafka cluster per test, and where figures go."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import real_kafka
from tests.conftest import real_kafka_or_why_not


def _need_real_kafka() -> None:
    """Skip (fail under DATAGEN_REAL_KAFKA=require) when real Kafka cannot run here."""
    why = real_kafka_or_why_not()
    if why is not None:
        pytest.skip(f"real Kafka unavailable: {why}")


def netns_or_why_not() -> str | None:
    """None when this process may create network namespaces (root, a working `ip netns`), else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` command"
    probe = f"dgprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None if made.returncode == 0 else f"`ip netns add` failed: {made.stderr.strip()}"


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[real_kafka.KafkaCluster]:
    """Three combined KRaft nodes on loopback, their log dirs kept under the test's tmp dir."""
    _need_real_kafka()
    with real_kafka.KafkaCluster(3, workdir=tmp_path / "kafka") as started:
        yield started


@pytest.fixture()
def netns_cluster(tmp_path: Path) -> Iterator[real_kafka.KafkaCluster]:
    """Three nodes, each in its own network namespace behind a bridge, so one can be cut off."""
    _need_real_kafka()
    why = netns_or_why_not()
    if why is not None:
        if os.environ.get("DATAGEN_REAL_KAFKA") == "require":
            pytest.fail(f"DATAGEN_REAL_KAFKA=require, but the netns fault test cannot run: {why}", pytrace=False)
        pytest.skip(why)
    with real_kafka.KafkaCluster(3, workdir=tmp_path / "kafka", network="netns") as started:
        yield started


@pytest.fixture(scope="session")
def figures_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON-lines file every fault test appends its figures to (one per pytest run)."""
    path = tmp_path_factory.getbasetemp() / "fault-figures.jsonl"
    print(f"fault figures go to {path}")
    return path
