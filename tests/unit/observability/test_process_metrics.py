"""/metrics carries the standard process_* and python_* series, and the server says where it listens."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from producer.observability.metrics import MetricsServer, listen_banner
from producer.observability.stats import RunStats


def test_scrape_has_process_and_python_series():
    server = MetricsServer(RunStats(scenario="s"), host="127.0.0.1", port=0)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.stop()
    samples = {s.name: s for family in text_string_to_metric_families(body) for s in family.samples}
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections_total",
        "datagen_info",
    ):
        assert name in samples, f"{name} missing from /metrics"
    assert samples["process_resident_memory_bytes"].value > 0
    assert samples["python_info"].labels["implementation"] == "CPython"


def test_banner_shows_the_address_really_bound():
    server = MetricsServer(RunStats(scenario="s"), host="127.0.0.1", port=0)
    try:
        assert server.banner().startswith(f"http://127.0.0.1:{server.port}/metrics ")
        assert "/healthz" in server.banner() and "/readyz" in server.banner()
    finally:
        server.server_close()


def test_banner_of_a_wildcard_address_says_every_interface():
    # the default bind (0.0.0.0) is not loopback only: the line must not pretend it is
    line = listen_banner("0.0.0.0", 9400)
    assert line.startswith("http://0.0.0.0:9400/metrics on every interface")
    assert "http://127.0.0.1:9400" in line
