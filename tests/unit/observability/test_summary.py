"""The end-of-run summary states the achieved rate honestly, without a flush that timed out."""

from __future__ import annotations

import re
from collections import Counter

from producer.observability.stats import RunStats
from producer.observability.summary import render_summary

TOPIC = "p.fintech.transactions"


def stats_with(delivered: int, failed: int = 0) -> RunStats:
    stats = RunStats(scenario="s")
    stats.on_produced([], {}, Counter({TOPIC: delivered + failed}))
    stats.on_delivered(TOPIC, delivered, delivered * 100)
    if failed:
        stats.on_failed(TOPIC, failed, failed * 100, "_TRANSPORT: 127.0.0.1:9092/1: Disconnected (then _PURGE_QUEUE)")
    return stats


def test_a_normal_flush_counts_in_the_rate():
    text = render_summary(stats_with(10_000), 9.5, "duration", 0, 0.5)
    assert "ended_by=duration elapsed=10.0s" in text
    assert "achieved rate: 1,000 events/s over 10.0s of producing (flush took 0.5s of it)" in text
    assert "failures" not in text


def test_a_flush_that_timed_out_stays_out_of_the_rate():
    # 10 s of producing, then the broker died and the shutdown flush waited its full 30 s
    text = render_summary(stats_with(10_000, 2_000), 10.0, "signal", 2_000, 30.0)
    assert "elapsed=40.0s" in text
    assert "achieved rate: 1,000 events/s over 10.0s of producing; flush timed out after 30.0s" in text
    assert "with 2000 outstanding (not in the rate)" in text
    assert "first error: _TRANSPORT: 127.0.0.1:9092/1: Disconnected" in text


GROUND_TRUTH = "p.ground-truth"


def stats_with_ground_truth(events: int) -> RunStats:
    """`--labels topic`: every event has one ground-truth record besides it, on its own topic."""
    stats = stats_with(events)
    stats.derived_topics = {GROUND_TRUTH, "p.labels", "p.expected"}
    stats.on_produced([], {}, Counter({GROUND_TRUTH: events}))
    stats.on_delivered(GROUND_TRUTH, events, events * 40)
    stats.produced_by_type[(TOPIC, "payment")] = events
    return stats


def table_rows(text: str) -> list[list[str]]:
    """The summary's table rows split on runs of two or more spaces: [name, produced, delivered, failed, bytes]."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[2:] if re.search(r"\d\s+\S+ \S*B$", line)]


def test_ground_truth_records_are_not_events_in_the_rate():
    # 10,000 events and their 10,000 ground-truth records in 10 s: 1,000 events/s, not 2,000
    text = render_summary(stats_with_ground_truth(10_000), 9.5, "duration", 0, 0.5)
    assert "achieved rate: 1,000 events/s over 10.0s of producing" in text
    assert (
        "10000 events generated; 10000 derived records delivered (ground truth, labels, answers), not in the rate"
        in text
    )
    rows = table_rows(text)
    # domain topics first, then the derived ones, each group closed by its subtotal; total is every record
    assert [row[0] for row in rows] == [TOPIC, "domain events", GROUND_TRUTH, "derived records", "total"]
    assert rows[1][1:4] == ["10000", "10000", "0"]
    assert rows[3][1:4] == ["10000", "10000", "0"]
    assert rows[4][1:4] == ["20000", "20000", "0"]


def test_without_derived_topics_the_table_is_as_before():
    text = render_summary(stats_with(10_000), 9.5, "duration", 0, 0.5)
    assert [row[0] for row in table_rows(text)] == [TOPIC, "total"]
    assert "derived records" not in text
