"""Shared fixtures: one broker and one schema registry per test session."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Message

from producer.embedded.broker import EmbeddedBroker
from producer.embedded.registry import LocalSchemaRegistry
from scripts import real_kafka
from tests.helpers import consume_all as _consume_all

log = logging.getLogger(__name__)


def _docker_answers(timeout: float = 2.0) -> bool:
    """True when a Docker engine responds to a ping within ``timeout`` seconds."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no SDK, no socket, no daemon: all mean "no Docker"
        return False


def real_kafka_or_why_not() -> str | None:
    """None when the real-Kafka tier runs here; else why not. With DATAGEN_REAL_KAFKA=require, an error instead.

    DATAGEN_REAL_KAFKA: `auto` (default) uses the jars when `java` and `mvn` exist, `0` opts out,
    `require` (what .ci/run sets) turns every reason not to run into a failure.
    """
    mode = os.environ.get("DATAGEN_REAL_KAFKA", "auto")
    if mode == "0":
        return "DATAGEN_REAL_KAFKA=0"
    why = real_kafka.available()
    if why is not None and mode == "require":
        pytest.fail(f"DATAGEN_REAL_KAFKA=require, but real Kafka cannot run here: {why}", pytrace=False)
    return why


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker: env var, else testcontainers, else Apache Kafka from the jars, else Tansu."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        log.info("test broker source=env bootstrap_servers=%s", configured)
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            servers = kafka.get_bootstrap_server()
            log.info("test broker source=testcontainers bootstrap_servers=%s", servers)
            yield servers
        return
    why = real_kafka_or_why_not()
    if why is None:
        with real_kafka.KafkaCluster(1, workdir=tmp_path_factory.mktemp("kafka")) as cluster:
            log.info(
                "test broker source=jars kafka=%s bootstrap_servers=%s",
                real_kafka.KAFKA_VERSION,
                cluster.bootstrap_servers,
            )
            yield cluster.bootstrap_servers
        return
    log.warning("test broker source=embedded (Tansu): real Kafka unavailable: %s", why)
    with EmbeddedBroker() as broker:
        log.info("test broker source=embedded bootstrap_servers=%s", broker.bootstrap_servers)
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def schema_registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a schema registry: SCHEMA_REGISTRY_URL, else a local file-backed one."""
    configured = os.environ.get("SCHEMA_REGISTRY_URL")
    if configured:
        yield configured
        return
    with LocalSchemaRegistry(data_dir=tmp_path_factory.mktemp("schema-registry")) as registry:
        yield registry.url


@pytest.fixture()
def consume_all(kafka_bootstrap: str) -> Callable[..., list[Message]]:
    """``consume_all(topic, timeout=30.0)``: every message of a topic, read with assign()."""

    def consume(topic: str, timeout: float = 30.0, extra_config: dict[str, Any] | None = None) -> list[Message]:
        return _consume_all(kafka_bootstrap, topic, timeout=timeout, extra_config=extra_config)

    return consume
