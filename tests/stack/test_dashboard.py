"""The provisioned Grafana dashboard and data source: structure, panels, and PromQL that parses."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.stack import (
    DASHBOARD,
    DATASOURCE_UID,
    GRAFANA_DIR,
    dashboard_expressions,
    dashboard_variable_metrics,
    grafana_to_promql,
    metric_names,
    require_tool,
    rules_expressions,
)

# what the issue asks the dashboard to show -> words its panel titles must contain
REQUIRED_PANELS = {
    "throughput per topic and event type": ("throughput", "topic", "event type"),
    "target vs achieved rate": ("target", "achieved"),
    "delivery latency quantiles": ("latency", "quantile"),
    "failures": ("fail",),
    "producer queue depth": ("queue depth",),
    "drift progress per domain": ("drift", "domain"),
    "current phase": ("current phase",),
    "injected anomalies per pattern": ("anomalies", "pattern"),
    # the Scoreboard row, read from `datagen score --metrics-port`
    "drift episodes detected": ("drift episodes detected",),
    "detection delay": ("detection delay",),
    "false alarms per event-hour": ("false alarms per event-hour",),
    "precision, recall and F1 per pattern": ("precision", "recall", "f1", "pattern"),
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def test_dashboard_has_every_required_panel(dashboard):
    titles = [p["title"].lower() for p in _panels(dashboard) if p["type"] != "row"]
    for what, words in REQUIRED_PANELS.items():
        assert any(all(w in t for w in words) for t in titles), f"no panel for {what!r} in {titles}"


def test_dashboard_is_a_provisionable_grafana_dashboard(dashboard):
    assert dashboard["uid"] == "datagen" and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert "id" not in dashboard or dashboard["id"] is None  # provisioning assigns the id
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    occupied = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["description"], f"panel {panel['title']!r} has no description"
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID and target["expr"] and target["refId"]
    for variable in dashboard["templating"]["list"]:
        assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_provisioning_points_at_the_datasource_and_dashboards():
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus" and source["isDefault"]
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "datagen.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")


def test_grafana_variables_become_plain_promql():
    assert grafana_to_promql('rate(x{topic=~"$topic"}[$__rate_interval])') == 'rate(x{topic=~".*"}[1m])'
    assert grafana_to_promql("increase(x[$__range])") == "increase(x[15m])"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (topic, event_type) (rate(datagen_produced_events_total{topic=~".*"}[1m]))',
            {"datagen_produced_events_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(datagen_delivery_latency_seconds_bucket[5m])))",
            {"datagen_delivery_latency_seconds_bucket"},
        ),
        (
            "(a_total == 0) or (max by (job, instance) (b) unless on (job, instance) c_total and on (job) (b offset 30s))",
            {"a_total", "b", "c_total"},
        ),
        ('topic:datagen_delivered_events:rate1m{job="x"} * 1e3 + 0.9', {"topic:datagen_delivered_events:rate1m"}),
        ("sum(increase(x_total[$__range])) or vector(0)", {"x_total"}),
        ('label_replace(up, "a", "$1", "b", "(.*)")', {"up"}),
    ],
)
def test_metric_names_of_promql(expr, names):
    assert metric_names(grafana_to_promql(expr)) == names


def test_every_expression_parses(tmp_path):
    """promtool parses each dashboard and rule expression, as a recording rule of a generated file."""
    expressions = dashboard_expressions() + rules_expressions()
    assert len(expressions) > 20
    rules = {
        "groups": [
            {
                "name": "parse-check",
                "rules": [{"record": f"parse_check:expr_{i}", "expr": e.expr} for i, e in enumerate(expressions)],
            }
        ]
    }
    path = tmp_path / "parse_check.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = subprocess.run(
        [require_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        index = {f'"parse_check:expr_{i}"': e for i, e in enumerate(expressions)}
        culprits = [f"{e.where}: {e.expr}" for key, e in index.items() if key in result.stdout + result.stderr]
        pytest.fail(f"promtool cannot parse:\n{result.stdout}{result.stderr}\n" + "\n".join(culprits))
    assert f"{len(expressions)} rules found" in result.stdout + result.stderr


def test_dashboard_variables_read_datagen_metrics():
    assert dashboard_variable_metrics() == {"instance": "datagen_info", "topic": "datagen_produced_events_total"}
