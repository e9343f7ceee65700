"""The embedded Tansu broker: start, create, produce, consume back, stop."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from producer.embedded.broker import EmbeddedBroker
from tests import helpers

pytestmark = pytest.mark.integration


def _create_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=15)


def test_embedded_broker_round_trips_1000_messages_over_3_partitions() -> None:
    with EmbeddedBroker() as broker:
        servers = broker.bootstrap_servers
        topic = f"embedded-{uuid.uuid4().hex[:8]}"
        _create_topic(servers, topic, partitions=3)
        assert (
            len(AdminClient({"bootstrap.servers": servers}).list_topics(topic, timeout=10).topics[topic].partitions)
            == 3
        )

        failures: list[object] = []
        producer = Producer(
            {
                "bootstrap.servers": servers,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "lz4",
                "linger.ms": 5,
            }
        )
        for i in range(1000):
            producer.produce(
                topic,
                key=f"entity-{i % 37}".encode(),
                value=f"event-{i}".encode(),
                on_delivery=lambda err, msg: failures.append(err) if err else None,
            )
            producer.poll(0)
        assert producer.flush(15) == 0
        assert failures == []

        messages = helpers.consume_all(servers, topic, timeout=20)
        assert sorted(m.value() for m in messages) == sorted(f"event-{i}".encode() for i in range(1000))
        assert {m.partition() for m in messages} == {0, 1, 2}
        # per-key order holds: one key lives in one partition, offsets rise with the sequence number
        by_key: dict[bytes, list[int]] = {}
        for message in sorted(messages, key=lambda m: (m.partition(), m.offset())):
            by_key.setdefault(message.key(), []).append(int(message.value().split(b"-")[1]))
        assert all(seq == sorted(seq) for seq in by_key.values())


def test_stop_makes_the_port_refuse_connections() -> None:
    broker = EmbeddedBroker()
    broker.start()
    host, port = broker.bootstrap_servers.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=2).close()
    broker.stop()
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
    broker.stop()  # idempotent


def test_session_fixtures_give_a_broker_and_a_reader(
    kafka_bootstrap: str,
    consume_all: Callable[..., list[Message]],
) -> None:
    topic = f"fixture-{uuid.uuid4().hex[:8]}"
    _create_topic(kafka_bootstrap, topic, partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(10):
        producer.produce(topic, key=str(i).encode(), value=str(i).encode())
    assert producer.flush(15) == 0
    assert sorted(int(m.value()) for m in consume_all(topic, timeout=20)) == list(range(10))
