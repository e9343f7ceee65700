"""The retention warning: once per existing topic whose time-based retention would delete the records at once."""

from __future__ import annotations

import logging
import time

from producer.observability.stats import RunStats
from producer.sinks.base import Record
from producer.sinks.kafka import KafkaSink

WEEK_MS = 7 * 24 * 3600 * 1000


def records(topic: str, timestamp_ms: int, n: int = 3) -> list[Record]:
    return [Record(topic, b"k", b"v", timestamp_ms)] * n


def test_old_event_times_on_a_week_retention_topic_warn_once(caplog):
    sink = KafkaSink(RunStats(), "127.0.0.1:9")
    sink._retention = {"old": WEEK_MS, "fresh": WEEK_MS}
    now_ms = int(time.time() * 1000)
    with caplog.at_level(logging.WARNING, logger="producer.sinks.kafka"):
        sink._check_retention(records("old", 1767225600000) + records("fresh", now_ms - 1000))  # 2026-01-01
        sink._check_retention(records("old", 1767225600000))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "topic old keeps records for retention.ms=604800000" in warnings[0]
    assert "2026-01-01T00:00:00+00:00" in warnings[0] and "retention.ms=-1" in warnings[0]
    assert sink._retention == {}


def test_topics_without_records_stop_being_looked_for_after_a_few_batches():
    sink = KafkaSink(RunStats(), "127.0.0.1:9")
    sink._retention = {"quiet": WEEK_MS}
    for _ in range(8):
        assert sink._retention
        sink._check_retention(records("busy", 0))
    assert sink._retention == {}


def test_the_first_batch_alone_is_compared_with_the_producer_expiration(caplog):
    sink = KafkaSink(RunStats(), "127.0.0.1:9")
    day_ms = 24 * 3600 * 1000
    sink._producer_expiration = day_ms
    now_ms = int(time.time() * 1000)
    with caplog.at_level(logging.WARNING, logger="producer.sinks.kafka"):
        sink._check_producer_expiration(records("t", now_ms - 1000) + records("t", now_ms - 2 * day_ms))
        sink._check_producer_expiration(records("t", 0))  # checked once: no second line
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "older than the broker's producer.id.expiration.ms=86400000" in warning
    assert sink._producer_expiration is None


def test_recent_record_times_give_no_expiration_warning(caplog):
    sink = KafkaSink(RunStats(), "127.0.0.1:9")
    sink._producer_expiration = 24 * 3600 * 1000
    with caplog.at_level(logging.WARNING, logger="producer.sinks.kafka"):
        sink._check_producer_expiration(records("t", int(time.time() * 1000)))
    assert caplog.records == []
