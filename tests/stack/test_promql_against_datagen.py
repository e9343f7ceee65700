"""The dashboard and the rules against a running datagen: every metric they name is one it exposes,
and a real Prometheus, configured from the shipped prometheus.yml and rules, scrapes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from producer.observability.metrics import METRIC_NAMES
from tests.stack import (
    DASHBOARD,
    PROMETHEUS_CONFIG,
    RULES_DIR,
    RunningDatagen,
    dashboard_expressions,
    dashboard_variable_metrics,
    exposed_sample_names,
    free_port,
    grafana_to_promql,
    http_get,
    metric_names,
    recording_rule_names,
    require_tool,
    rules_expressions,
    running_datagen,
    stop_process,
)


@pytest.fixture(scope="module")
def datagen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDatagen]:
    """One datagen playing a long steady scenario to the file sink, /metrics on a free port."""
    with running_datagen(tmp_path_factory.mktemp("datagen")) as running:
        yield running


@pytest.fixture(scope="module")
def exposed(datagen: RunningDatagen) -> set[str]:
    """What a running datagen exposes, and what `datagen score` exposes (the dashboard's Scoreboard row)."""
    return exposed_sample_names(datagen.scrape()) | _scoreboard_exposed()


def _scoreboard_exposed() -> set[str]:
    """Sample names a scorer's /metrics serves for a board with one detected drift episode and one alarmed anomaly."""
    from producer.scoring.alarms import Alarm
    from producer.scoring.exporter import SCORE_METRIC_NAMES, ScoreCollector, serve
    from producer.scoring.score import score
    from producer.scoring.truth import GroundTruth

    truth, s = GroundTruth(), 1_000_000
    label = {"kind": "event", "topic": "t", "entity_key": "k", "truth": {"is_anomaly": True, "pattern": "fraud"}}
    truth.add({**label, "event_id": "00000000-0000-4000-8000-000000000001", "timestamp": 5 * s}, "gt@0")
    truth.add({**label, "event_id": "00000000-0000-4000-8000-000000000002", "timestamp": 9 * s}, "gt@1")
    window = {"episode_id": "e", "stream": "t", "start": 6 * s, "end": 8 * s}
    truth.add({"kind": "drift", "topic": "t", "drift": window}, "gt@2")
    truth.add({"kind": "episode", "topic": "t", "entity_key": "k",
               "episode": {"episode_id": "a", "pattern": "fraud", "start": 5 * s, "end": 9 * s}}, "gt@3")  # fmt: skip
    alarms = [
        Alarm("d", "t", "drift", 1 * s),
        Alarm("d", "t", "drift", 7 * s),
        Alarm("d", "t", "anomaly", 5 * s, "00000000-0000-4000-8000-000000000001"),
    ]
    collector = ScoreCollector()
    collector.update(score(truth, alarms), truth)
    port = serve(collector, 0, "127.0.0.1")
    names = exposed_sample_names(http_get(f"http://127.0.0.1:{port}/metrics").decode())
    assert set(SCORE_METRIC_NAMES) <= names
    return names


def test_every_metric_family_is_exposed(exposed):
    families = {name.removesuffix("_total") for name in exposed}
    families |= {name.rsplit("_", 1)[0] for name in exposed if name.endswith(("_bucket", "_sum", "_count"))}
    missing = [name for name in METRIC_NAMES if name.removesuffix("_total") not in families]
    assert not missing, f"METRIC_NAMES lists {missing}, not in a live scrape"


def test_dashboard_and_rules_name_only_exposed_metrics(exposed):
    recorded = recording_rule_names()
    problems = []
    for expression in rules_expressions() + dashboard_expressions():
        names = metric_names(expression.expr)
        assert names, f"{expression.where}: no metric found in {expression.expr!r}"
        unknown = names - exposed - recorded
        if unknown:
            problems.append(f"{expression.where}: {sorted(unknown)}")
    for variable, metric in dashboard_variable_metrics().items():
        if metric not in exposed:
            problems.append(f"variable ${variable}: {metric}")
    assert not problems, "names that a running datagen does not expose:\n" + "\n".join(problems)


def test_recording_rules_read_only_exposed_metrics(exposed):
    # rules built on other recording rules would hide a missing metric behind a rule name
    for expression in rules_expressions():
        assert metric_names(expression.expr) <= exposed, expression.where


# --- a real Prometheus server ---------------------------------------------------------------------


def _prometheus_config(datagen_port: int) -> dict:
    """The shipped config with the datagen job pointed at 127.0.0.1:<port> and 1 s intervals."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "datagen"]
    assert job["dns_sd_configs"][0]["names"] == ["data-generator"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{datagen_port}"]}]
    config["scrape_configs"] = [job]
    return config


class Prometheus:
    """A Prometheus server on loopback, queried over its HTTP API."""

    def __init__(self, workdir: Path, config: dict) -> None:
        self.port = free_port()
        config_file = workdir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = workdir / "prometheus.log"
        with open(self.log, "wb") as sink:
            self.process = subprocess.Popen(
                [
                    require_tool("prometheus"),
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                cwd=workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> dict | list:
        body = json.loads(http_get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def wait_for(self, what: str, check, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited {self.process.returncode}:\n{self.log.read_text()}")
            try:
                last = check()
                if last:
                    return last
            except OSError as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture(scope="module")
def prometheus(datagen: RunningDatagen, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus with the shipped config and rules, scraping the running datagen every second."""
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), _prometheus_config(datagen.port))
    try:
        server.wait_for("readiness", lambda: http_get(f"{server.url}/-/ready"))
        yield server
    finally:
        server.stop()
    assert server.process.returncode is not None


@pytest.mark.integration
def test_prometheus_scrapes_datagen_with_the_shipped_config_and_rules(prometheus):
    targets = prometheus.wait_for(
        "the datagen target to be up",
        lambda: [t for t in prometheus.api("targets")["activeTargets"] if t["health"] == "up"],
    )
    assert targets[0]["labels"]["job"] == "datagen"

    def delivered_rate() -> float:
        result = prometheus.query("sum(rate(datagen_delivered_events_total[15s]))")
        return float(result[0]["value"][1]) if result else 0.0

    assert prometheus.wait_for("a positive delivered-events rate", delivered_rate) > 0
    drift = prometheus.query("datagen_drift_progress")
    assert len(drift) >= 1, "no datagen_drift_progress series"
    assert {"scenario", "domain"} <= set(drift[0]["metric"])
    assert drift[0]["metric"]["scenario"] == "stack_check"

    # the shipped rules load and evaluate against live data
    recorded = prometheus.wait_for(
        "recording rule topic:datagen_delivered_events:rate1m",
        lambda: [r for r in prometheus.query("topic:datagen_delivered_events:rate1m") if float(r["value"][1]) > 0],
    )
    assert recorded[0]["metric"]["topic"] == "fintech.transactions"
    groups = prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(rules_expressions())
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert not unhealthy, unhealthy
    firing = prometheus.query('ALERTS{alertname=~"DatagenNoEventsDelivered|DatagenDeliveryFailures"}')
    assert not firing, firing


def _panel_queries() -> list[tuple[str, str]]:
    """(where, Grafana expression) of every dashboard target, $instance still in it."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (f"panel {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


@pytest.mark.integration
def test_every_panel_shows_its_instance_and_nothing_of_another(prometheus, datagen):
    """Each dashboard query, with $instance set to the live datagen, returns series; set to another
    instance it returns none (or zeros, for `... or vector(0)`): the filter applies to every panel."""
    ours, other = f"127.0.0.1:{datagen.port}", "no-such-instance:9400"
    prometheus.wait_for(  # the recording rules have evaluated over live data
        "a positive instance_topic:datagen_delivered_events:rate1m",
        lambda: [
            r
            for r in prometheus.query(f'instance_topic:datagen_delivered_events:rate1m{{instance="{ours}"}}')
            if float(r["value"][1]) > 0
        ],
    )
    for where, expr in _panel_queries():
        if "datagen_score_" in expr:  # the Scoreboard row reads `datagen score`, not a run (its own scrape test)
            continue
        live = grafana_to_promql(expr.replace("$instance", ours))
        prometheus.wait_for(f"{where} to return data: {live}", lambda live=live: prometheus.query(live))
        elsewhere = prometheus.query(grafana_to_promql(expr.replace("$instance", other)))
        # only `... or vector(0)` may answer, with its one unlabelled zero
        allowed = [{"metric": {}, "value": 0.0}] if "or vector(0)" in expr else []
        assert [{"metric": r["metric"], "value": float(r["value"][1])} for r in elsewhere] == allowed, (
            f"{where} shows data of another instance: {elsewhere}"
        )


# --- the health checks of the image and of the compose service, run against the live datagen -----


def _image_healthcheck_command() -> str:
    from tests.stack.test_compose import dockerfile_instructions

    (health,) = dockerfile_instructions("HEALTHCHECK", -1)
    return health.split(" CMD ", 1)[1]


def test_image_healthcheck_passes_on_a_live_datagen_and_fails_without(datagen):
    command = _image_healthcheck_command()
    ok = subprocess.run(
        ["sh", "-c", command],
        env={**os.environ, "DATAGEN_METRICS_PORT": str(datagen.port)},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    down = subprocess.run(
        ["sh", "-c", command],
        env={**os.environ, "DATAGEN_METRICS_PORT": str(free_port())},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert down.returncode != 0


def test_compose_healthcheck_passes_on_a_live_datagen(datagen):
    from tests.stack import COMPOSE_FILE

    test = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["data-generator"]["healthcheck"]["test"]
    assert test[0] == "CMD" and ":9400/" in " ".join(test)
    argv = [sys.executable if arg == "python" else arg.replace(":9400/", f":{datagen.port}/") for arg in test[1:]]
    result = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
