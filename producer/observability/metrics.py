"""Prometheus exposition of RunStats, with /healthz and /readyz, on one small HTTP server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from producer import __version__
from producer.encoding.delayed_labels import COUNTS as LABEL_COUNTS
from producer.errors import UsageError
from producer.observability.stats import LATENCY_BUCKETS, RunStats

log = logging.getLogger(__name__)
STALE_AFTER = 30.0  # seconds without a scheduler heartbeat before /healthz fails

# every metric name datagen exposes (tests and dashboards check against this list)
METRIC_NAMES = (
    "datagen_info",
    "datagen_produced_events_total",
    "datagen_delivered_events_total",
    "datagen_failed_events_total",
    "datagen_delivered_bytes_total",
    "datagen_failed_bytes_total",
    "datagen_injected_anomalies_total",
    "datagen_delayed_labels_total",
    "datagen_target_rate_events_per_second",
    "datagen_achieved_rate_events_per_second",
    "datagen_delivery_latency_seconds",
    "datagen_producer_queue_depth_messages",
    "datagen_drift_progress",
    "datagen_phase_info",
    "datagen_phase_index",
    "datagen_event_time_seconds",
    "datagen_ready",
    "datagen_oldest_undelivered_age_seconds",
)


class StatsCollector:
    """A custom collector: reads RunStats at scrape time, so the hot path never touches Prometheus."""

    def __init__(self, stats: RunStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield every datagen metric family."""
        s = self.stats
        with s.lock:
            topics = {
                name: (t.produced, t.delivered, t.failed, t.delivered_bytes, t.failed_bytes)
                for name, t in s.topics.items()
            }
            by_type = dict(s.produced_by_type)
            injected = dict(s.injected)
            buckets, lat_sum = s.latency_buckets.cumsum().tolist(), s.latency_sum
            drift = dict(s.drift_progress)
            delayed = dict.fromkeys(LABEL_COUNTS, 0) | dict(s.delayed_labels or {})  # zeros without delayed_labels
        info = GaugeMetricFamily("datagen_info", "datagen build and scenario", labels=["version", "scenario"])
        info.add_metric([__version__, s.scenario], 1)
        yield info
        produced = CounterMetricFamily(
            "datagen_produced_events", "Events handed to the sink", labels=["topic", "event_type"]
        )
        for (topic, event_type), count in sorted(by_type.items()):
            produced.add_metric([topic, event_type], count)
        yield produced
        for name, doc, idx in (
            ("datagen_delivered_events", "Events acknowledged by the sink", 1),
            ("datagen_failed_events", "Events that failed delivery for good", 2),
            ("datagen_delivered_bytes", "Value bytes acknowledged by the sink", 3),
            ("datagen_failed_bytes", "Value bytes that failed delivery", 4),
        ):
            family = CounterMetricFamily(name, doc, labels=["topic"])
            for topic, values in sorted(topics.items()):
                family.add_metric([topic], values[idx])
            yield family
        anomalies = CounterMetricFamily(
            "datagen_injected_anomalies", "Injected anomalous events", labels=["topic", "pattern"]
        )
        for (topic, pattern), count in sorted(injected.items()):
            anomalies.add_metric([topic, pattern], count)
        yield anomalies
        labels = CounterMetricFamily(
            "datagen_delayed_labels", "Delayed fraud labels by what became of them", labels=["state"]
        )
        for state, count in sorted(delayed.items()):
            labels.add_metric([state], count)
        yield labels
        yield GaugeMetricFamily(
            "datagen_target_rate_events_per_second", "Target emit rate (0 = max)", value=s.target_rate
        )
        yield GaugeMetricFamily("datagen_achieved_rate_events_per_second", "Achieved emit rate", value=s.achieved_rate)
        histogram = HistogramMetricFamily("datagen_delivery_latency_seconds", "Produce-to-ack latency")
        bucket_pairs = [(str(b), buckets[i]) for i, b in enumerate(LATENCY_BUCKETS)] + [("+Inf", buckets[-1])]
        histogram.add_metric([], bucket_pairs, lat_sum)
        yield histogram
        yield GaugeMetricFamily(
            "datagen_producer_queue_depth_messages", "Messages awaiting acknowledgement", value=s.queue_depth
        )
        progress = GaugeMetricFamily(
            "datagen_drift_progress", "Drift progress p(t) in [0,1]", labels=["scenario", "domain"]
        )
        for domain, value in sorted(drift.items()):
            progress.add_metric([s.scenario, domain], value)
        yield progress
        phase = GaugeMetricFamily("datagen_phase_info", "Current phase (value 1)", labels=["scenario", "phase"])
        phase.add_metric([s.scenario, s.phase], 1)
        yield phase
        yield GaugeMetricFamily("datagen_phase_index", "Index of the current phase", value=s.phase_index)
        yield GaugeMetricFamily(
            "datagen_event_time_seconds", "Simulated event time (unix seconds)", value=s.event_time_us / 1e6
        )
        ready = 1 if s.is_ready() else 0
        yield GaugeMetricFamily("datagen_ready", "1 when the sink is connected and events flow", value=ready)
        yield GaugeMetricFamily(
            "datagen_oldest_undelivered_age_seconds",
            "Age of the oldest record handed to the sink and not yet acknowledged",
            value=s.oldest_undelivered_age(),
        )


class _Handler(BaseHTTPRequestHandler):
    server: ObservabilityServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            alive = self.server.healthy()
            self._send(200 if alive else 503, b"ok\n" if alive else b"stalled\n")
        elif path == "/readyz":
            ready = self.server.ready()
            self._send(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
        else:
            self._send(404, b"not found\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s", format % args)


def listen_banner(host: str, port: int) -> str:
    """`http://HOST:PORT/metrics ...` for a bound address; a wildcard host says it is every interface."""
    endpoints = "health /healthz, readiness /readyz"
    if host in {"", "0.0.0.0", "::"}:
        host = host or "0.0.0.0"
        return f"http://{host}:{port}/metrics on every interface (here: http://127.0.0.1:{port}; {endpoints})"
    return f"http://{host}:{port}/metrics ({endpoints})"


class ObservabilityServer(ThreadingHTTPServer):
    """Serves /metrics (one collector plus the standard process series), /healthz and /readyz."""

    daemon_threads = True

    def __init__(
        self,
        collector: Collector,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        host: str = "0.0.0.0",
        port: int = 9400,
    ) -> None:
        self.healthy, self.ready = healthy, ready
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        # a private registry starts empty: add the standard process_* and python_* series back
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            raise UsageError(f"--metrics-port {port}: cannot listen ({exc.strerror})") from exc
        self._thread = threading.Thread(target=self.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server_address[1]

    def banner(self) -> str:
        """Where it listens, for the "metrics:" line: the address really bound, and how to reach it."""
        host, port = self.server_address[:2]
        return listen_banner(str(host), int(port))

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()


class MetricsServer(ObservabilityServer):
    """The observability server of one run, reading its RunStats."""

    def __init__(self, stats: RunStats, host: str = "0.0.0.0", port: int = 9400) -> None:
        self.stats = stats

        def alive() -> bool:
            # a connecting run is alive but not ready; only a running loop that stopped ticking is unhealthy
            return not stats.ready or time.monotonic() - stats.last_heartbeat < STALE_AFTER

        # readiness is not a flag set once: a frozen or dead broker turns it false while the run goes on
        super().__init__(StatsCollector(stats), alive, stats.is_ready, host, port)
