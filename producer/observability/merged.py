"""One view of N workers: their metric families merged, their totals summed, one HTTP endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from producer.observability.metrics import ObservabilityServer
from producer.observability.stats import RunStats, TopicTotals

log = logging.getLogger(__name__)

# gauges that add up over workers (each worker emits its share); the other gauges take the max,
# except readiness, which is the min: the run is ready only when every worker is
SUMMED_GAUGES = frozenset(
    {
        "datagen_target_rate_events_per_second",
        "datagen_achieved_rate_events_per_second",
        "datagen_producer_queue_depth_messages",
    }
)
MIN_GAUGES = frozenset({"datagen_ready"})


def _combine(name: str, kind: str, old: float, new: float) -> float:
    if kind in ("counter", "histogram", "summary") or name in SUMMED_GAUGES:
        return old + new
    if name in MIN_GAUGES:
        return min(old, new)
    return max(old, new)


def merge_expositions(texts: Iterable[str]) -> list[Metric]:
    """The families of several Prometheus text expositions merged: counters and histograms summed,
    rate and queue gauges summed, datagen_ready the min, other gauges (event time, phase) the max."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            samples = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                old = samples.get(key)
                new = sample.value
                samples[key] = new if old is None else _combine(family.name, family.type, old, new)
    out = []
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        out.append(family)
    return out


def combine_reports(scenario: str, reports: Iterable[dict[str, Any]]) -> RunStats:
    """A RunStats holding the per-topic totals of every worker's report summed (for the summary)."""
    stats = RunStats(scenario=scenario)
    for report in reports:
        for topic, totals in report.get("topics", {}).items():
            into = stats.topics.setdefault(topic, TopicTotals())
            for field, value in totals.items():
                setattr(into, field, getattr(into, field) + value)
        stats.derived_topics.update(report.get("derived_topics", ()))  # counted apart from events
        # the summary counts generated events through produced_by_type; one bucket per worker suffices
        stats.produced_by_type[("", str(len(stats.produced_by_type)))] += report.get("generated", 0)
        stats.first_error = stats.first_error or report.get("first_error")
        delayed = report.get("delayed_labels")
        if delayed is not None:  # what became of the delayed labels, summed over the workers
            base = stats.delayed_labels or {}
            stats.delayed_labels = {k: base.get(k, 0) + delayed.get(k, 0) for k in {*base, *delayed}}
    return stats


class MergedCollector:
    """Collects the merged datagen families of the workers' latest reports at scrape time."""

    def __init__(self, expositions: Callable[[], list[str]]) -> None:
        self.expositions = expositions

    def collect(self) -> Iterator[Metric]:
        """Yield every merged family."""
        yield from merge_expositions(self.expositions())


class PoolMetricsServer(ObservabilityServer):
    """The parent's /metrics (workers merged, plus its own process series), /healthz and /readyz."""

    def __init__(
        self,
        expositions: Callable[[], list[str]],
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        host: str = "0.0.0.0",
        port: int = 9400,
    ) -> None:
        super().__init__(MergedCollector(expositions), healthy, ready, host, port)
