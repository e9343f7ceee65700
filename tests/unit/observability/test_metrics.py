"""The Prometheus exposition reads RunStats at scrape time and parses as Prometheus text."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from producer.domains.common.base import Event
from producer.observability.metrics import METRIC_NAMES, MetricsServer
from producer.observability.stats import RunStats


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def event(event_type: str, anomaly: bool = False, pattern: str | None = None) -> Event:
    truth = {"is_anomaly": anomaly, "pattern": pattern}
    return Event("fintech.transactions", "u1", 0, {"event_type": event_type, "truth": truth})


def test_scrape_reports_what_the_observer_saw():
    stats = RunStats(scenario="s")
    events = [
        event("transaction-initiated"),
        event("transaction-flagged", True, "fraud"),
        event("transaction-initiated"),
    ]
    stats.on_produced(
        events, {"fintech.transactions": "p.fintech.transactions"}, Counter({"p.fintech.transactions": 3})
    )
    stats.on_delivered("p.fintech.transactions", 2, 600)
    stats.on_failed("p.fintech.transactions", 1, 300, "boom")
    stats.on_latencies([0.004, 0.02, 7.0])
    stats.drift_progress["ecommerce"] = 0.25
    server = MetricsServer(stats, host="127.0.0.1", port=0)
    server.start()
    try:
        status, body = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
        }
        topic = (("topic", "p.fintech.transactions"),)
        assert samples[("datagen_delivered_events_total", topic)] == 2
        assert samples[("datagen_failed_events_total", topic)] == 1
        assert samples[("datagen_delivered_bytes_total", topic)] == 600
        assert samples[("datagen_produced_events_total", (("event_type", "transaction-initiated"), *topic))] == 2
        assert samples[("datagen_injected_anomalies_total", (("pattern", "fraud"), *topic))] == 1
        assert samples[("datagen_delivery_latency_seconds_bucket", (("le", "0.005"),))] == 1
        assert samples[("datagen_delivery_latency_seconds_bucket", (("le", "0.025"),))] == 2
        assert samples[("datagen_delivery_latency_seconds_bucket", (("le", "+Inf"),))] == 3
        assert samples[("datagen_drift_progress", (("domain", "ecommerce"), ("scenario", "s")))] == 0.25
        names = {family.name for family in text_string_to_metric_families(body)}
        assert {n.removesuffix("_total") for n in METRIC_NAMES} <= names
        assert get(f"http://127.0.0.1:{server.port}/readyz")[0] == 503
        stats.ready = True
        assert get(f"http://127.0.0.1:{server.port}/readyz")[0] == 200
        assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    finally:
        server.stop()
