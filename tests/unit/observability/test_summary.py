"""The end-of-run summary states the achieved rate honestly, without a flush that timed out."""

from __future__ import annotations

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
