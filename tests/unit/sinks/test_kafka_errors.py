"""The Kafka sink names the cause of a failure and turns unready when librdkafka says brokers are down.

A real librdkafka producer aimed at a closed loopback port: its error callback and delivery reports
are the real ones, no broker needed.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, Producer

from producer.embedded.broker import free_port
from producer.observability.stats import RunStats
from producer.sinks.base import Record
from producer.sinks.kafka import KafkaSink


def dead_port_sink() -> tuple[KafkaSink, RunStats]:
    stats = RunStats()
    sink = KafkaSink(stats, f"127.0.0.1:{free_port()}", {"message.timeout.ms": "1500"})
    conf = {**sink.producer_conf(), "error_cb": sink._on_error, "log_level": 0}
    sink._producer = Producer(conf)  # what open() builds, without waiting for a broker that never comes
    sink._ready = True
    return sink, stats


def test_a_timed_out_delivery_is_reported_with_the_transport_error_that_caused_it():
    sink, stats = dead_port_sink()
    sink.write([Record("t", b"k", b"v", 0)])
    deadline = time.monotonic() + 15
    while stats.totals().failed == 0 and time.monotonic() < deadline:
        sink.poll()
        time.sleep(0.05)
    assert stats.totals().failed == 1
    assert not sink.ready  # librdkafka said all brokers are down
    assert sink.first_error is not None
    assert sink.first_error.startswith("_TRANSPORT: "), sink.first_error
    assert "Connection refused" in sink.first_error and "(then _MSG_TIMED_OUT)" in sink.first_error
    assert stats.first_error == sink.first_error


def test_a_purge_without_any_broker_error_says_what_it_means():
    sink = KafkaSink(RunStats(), "127.0.0.1:1")
    text = sink.describe_failure(KafkaError(KafkaError._PURGE_QUEUE))
    assert text.startswith("_PURGE_QUEUE: ") and "shutdown flush timed out" in text
    sink._on_error(KafkaError(KafkaError._TRANSPORT, "127.0.0.1:1/1: Disconnected"))
    assert sink.describe_failure(KafkaError(KafkaError._PURGE_QUEUE)) == (
        "_TRANSPORT: 127.0.0.1:1/1: Disconnected (then _PURGE_QUEUE)"
    )
    # a broker's own rejection is its own cause
    assert sink.describe_failure(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)).startswith("MSG_SIZE_TOO_LARGE: ")
