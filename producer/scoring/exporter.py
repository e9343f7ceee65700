"""The scoreboard on /metrics: gauges read from the latest Scoreboard at scrape time."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from producer.scoring.score import Scoreboard, delay_events
from producer.scoring.truth import GroundTruth

# every metric `datagen score --metrics-port` exposes (the dashboard's Scoreboard row reads these)
SCORE_METRIC_NAMES = (
    "datagen_score_alarms",
    "datagen_score_drift_detected",
    "datagen_score_detection_delay_seconds",
    "datagen_score_detection_delay_events",
    "datagen_score_false_alarms",
    "datagen_score_false_alarms_per_hour",
    "datagen_score_precision",
    "datagen_score_recall",
    "datagen_score_f1",
    "datagen_score_episodes_detected",
    "datagen_score_mean_time_to_detect_seconds",
)
EPISODE = ["detector", "topic", "episode"]
PATTERN = ["detector", "topic", "pattern"]


class ScoreCollector:
    """Yields the scoreboard's gauges; update() swaps in a newer board (the reader thread calls it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._board: Scoreboard | None = None
        self._truth: GroundTruth | None = None

    def update(self, board: Scoreboard, truth: GroundTruth) -> None:
        """Serve this board from now on."""
        with self._lock:
            self._board, self._truth = board, truth

    def collect(self) -> Iterator[Metric]:
        """Yield every scoreboard metric family."""
        with self._lock:
            board, truth = self._board, self._truth
        if board is None or truth is None:
            return
        yield from _drift_families(board, truth)
        yield from _pattern_families(board)


def _drift_families(board: Scoreboard, truth: GroundTruth) -> Iterator[Metric]:
    alarms = GaugeMetricFamily(
        "datagen_score_alarms", "Alarms read, per detector and kind", labels=["detector", "kind"]
    )
    counts: dict[tuple[str, str], int] = {}
    for alarm in board.alarms:
        counts[alarm.detector, alarm.kind] = counts.get((alarm.detector, alarm.kind), 0) + 1
    for pair, count in sorted(counts.items()):
        alarms.add_metric(list(pair), count)
    detected = GaugeMetricFamily("datagen_score_drift_detected", "1 if the drift episode was detected", labels=EPISODE)
    delay = GaugeMetricFamily(
        "datagen_score_detection_delay_seconds",
        "Detection delay in event-seconds from the episode start",
        labels=EPISODE,
    )
    delay_n = GaugeMetricFamily(
        "datagen_score_detection_delay_events", "Detection delay in events of the topic", labels=EPISODE
    )
    for row in board.drift:
        labels = [row.detector, row.episode.topic, row.episode.episode_id]
        detected.add_metric(labels, 1.0 if row.detected else 0.0)
        if row.delay_s is not None:
            delay.add_metric(labels, row.delay_s)
            delay_n.add_metric(labels, float(delay_events(truth, row) or 0))
    false = GaugeMetricFamily(
        "datagen_score_false_alarms", "Drift alarms outside every drift window", labels=["detector", "topic"]
    )
    rate = GaugeMetricFamily(
        "datagen_score_false_alarms_per_hour",
        "False drift alarms per event-hour outside drift",
        labels=["detector", "topic"],
    )
    for outside in board.false_alarms:
        false.add_metric([outside.detector, outside.topic], outside.count)
        if outside.per_hour is not None:
            rate.add_metric([outside.detector, outside.topic], outside.per_hour)
    yield from (alarms, detected, delay, delay_n, false, rate)


def _pattern_families(board: Scoreboard) -> Iterator[Metric]:
    families = {
        name: GaugeMetricFamily(f"datagen_score_{name}", f"Event-level {name} per anomaly pattern", labels=PATTERN)
        for name in ("precision", "recall", "f1")
    }
    for row in board.patterns:
        for name, family in families.items():
            value = getattr(row, name)
            if value is not None:
                family.add_metric([row.detector, row.topic, row.pattern], value)
    found = GaugeMetricFamily(
        "datagen_score_episodes_detected", "Share of anomaly episodes with an alarmed event", labels=PATTERN
    )
    ttd = GaugeMetricFamily(
        "datagen_score_mean_time_to_detect_seconds", "Mean event-seconds to an episode's first alarm", labels=PATTERN
    )
    groups: dict[tuple[str, str, str], list[float | None]] = {}
    for found_row in board.episodes:
        key = (found_row.detector, found_row.episode.topic, found_row.episode.pattern)
        groups.setdefault(key, []).append(found_row.time_to_detect_s)
    for labels, times in sorted(groups.items()):
        hit = [t for t in times if t is not None]
        found.add_metric(list(labels), len(hit) / len(times))
        if hit:
            ttd.add_metric(list(labels), sum(hit) / len(hit))
    yield from (*families.values(), found, ttd)


def serve(collector: ScoreCollector, port: int, host: str = "0.0.0.0") -> int:
    """Serve /metrics for the collector on a daemon thread; returns the bound port."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return int(server.server_address[1])
