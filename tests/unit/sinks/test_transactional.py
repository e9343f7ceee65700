"""--transactional-id: one id per shard, so no two processes of a fleet fence each other."""

from __future__ import annotations

import pytest

from producer.app import Run, RunSettings
from producer.scheduling.shard import Shard
from producer.sinks.kafka import KafkaSink
from producer.sinks.transactional import TransactionalKafkaSink


@pytest.mark.parametrize(
    ("shard", "expected"), [(Shard(), "fleet"), (Shard(1, 3), "fleet-1of3"), (Shard(3, 4), "fleet-3of4")]
)
def test_the_shard_is_appended_to_the_transactional_id(shard, expected):
    settings = RunSettings(scenario="steady_state", transactional_id="fleet", shard=shard, metrics_port=None)
    sink = Run(settings)._kafka_sink("127.0.0.1:9")
    assert isinstance(sink, TransactionalKafkaSink) and sink.transactional_id == expected
    assert sink.producer_conf()["transactional.id"] == expected
    assert sink.tick == 0.1  # one 100 ms tick per transaction


def test_without_the_flag_the_plain_sink_runs():
    sink = Run(RunSettings(scenario="steady_state", metrics_port=None))._kafka_sink("127.0.0.1:9")
    assert type(sink) is KafkaSink and "transactional.id" not in sink.producer_conf()


def test_the_transaction_timeout_allows_the_message_timeout():
    sink = TransactionalKafkaSink(None, "127.0.0.1:9", {"message.timeout.ms": "300000"}, transactional_id="t")
    assert sink.producer_conf()["transaction.timeout.ms"] == 300000  # librdkafka refuses message > transaction
    assert TransactionalKafkaSink(None, "b", transactional_id="t").producer_conf()["transaction.timeout.ms"] == 120000
