"""Merging the workers' expositions and totals into one view."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from producer.observability.merged import MergedCollector, combine_reports, merge_expositions
from producer.observability.metrics import StatsCollector
from producer.observability.stats import RunStats
from producer.observability.summary import render_summary


def worker_stats(delivered: int, event_time_us: int, ready: bool, queue: int) -> RunStats:
    stats = RunStats(scenario="s")
    stats.on_delivered("t.a", delivered, delivered * 10)
    stats.on_delivered("t.b", 1, 5)
    stats.on_latencies([0.002] * delivered)
    stats.event_time_us, stats.ready, stats.queue_depth = event_time_us, ready, queue
    return stats


def exposition(stats: RunStats) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    return generate_latest(registry).decode()


def merged_text(*texts: str) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedCollector(lambda: list(texts)))
    return generate_latest(registry).decode()


def test_counters_and_histograms_sum_gauges_follow_their_rule():
    text = merged_text(
        exposition(worker_stats(3, 2_000_000, True, 4)), exposition(worker_stats(5, 7_000_000, False, 6))
    )
    assert 'datagen_delivered_events_total{topic="t.a"} 8.0' in text
    assert 'datagen_delivered_events_total{topic="t.b"} 2.0' in text
    assert 'datagen_delivered_bytes_total{topic="t.a"} 80.0' in text
    assert 'datagen_delivery_latency_seconds_bucket{le="0.0025"} 8.0' in text
    assert "datagen_delivery_latency_seconds_count 8.0" in text
    assert "datagen_producer_queue_depth_messages 10.0" in text  # summed
    assert "datagen_event_time_seconds 7.0" in text  # max
    assert "datagen_ready 0.0" in text  # min: not every worker is ready
    assert text.count('datagen_info{scenario="s"') == 1


def test_merging_one_exposition_changes_nothing():
    one = exposition(worker_stats(3, 2_000_000, True, 4))
    families = {f.name: f for f in merge_expositions([one])}
    assert {s.value for s in families["datagen_delivered_events"].samples} == {3.0, 1.0}
    assert families["datagen_ready"].samples[0].value == 1.0


def test_combined_totals_feed_one_summary():
    reports = [
        {
            "topics": {"t.a": {"produced": 3, "delivered": 3, "delivered_bytes": 30, "failed": 0, "failed_bytes": 0}},
            "generated": 3,
            "first_error": None,
        },
        {
            "topics": {"t.a": {"produced": 4, "delivered": 2, "delivered_bytes": 20, "failed": 2, "failed_bytes": 9}},
            "generated": 4,
            "first_error": "boom",
        },
    ]
    stats = combine_reports("s", reports)
    totals = stats.totals()
    assert (totals.produced, totals.delivered, totals.failed, totals.delivered_bytes) == (7, 5, 2, 50)
    text = render_summary(stats, 1.0, "events")
    assert "7 events generated" in text and "first error: boom" in text
