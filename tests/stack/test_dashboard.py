"""The provisioned Grafana dashboard and data source: structure, panels, and PromQL that parses."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.stack import (
    DASHBOARD,
    DATASOURCE_UID,
    GRAFANA_DIR,
    RULES_DIR,
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
    "process memory": ("process", "memory"),
    "process cpu": ("process", "cpu"),
}
BYTE_UNITS = {"bytes", "decbytes", "Bps", "binBps"}


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


def _recording_rules() -> dict[str, str]:
    """Recording rule name -> its expression (a name may be recorded by several rules)."""
    rules: dict[str, str] = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rules[rule["record"]] = rules.get(rule["record"], "") + rule["expr"]
    return rules


def test_every_panel_follows_the_instance_filter(dashboard):
    """Each query filters on $instance, and a recording rule it reads keeps the instance label."""
    rules = _recording_rules()
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            where = f"panel {panel['title']!r} target {target['refId']}"
            if "datagen_score_" in target["expr"]:
                continue  # the Scoreboard row reads `datagen score`, its own target, not one of the runs $instance lists
            assert 'instance=~"$instance"' in target["expr"], f"{where} ignores $instance: {target['expr']}"
            for name in metric_names(grafana_to_promql(target["expr"])) & set(rules):
                kept = re.findall(r"\bby\s*\(([^)]*)\)", rules[name])
                assert kept and all("instance" in labels for labels in kept), f"{where}: {name} sums instance away"


def _kind(expr: str) -> str:
    """What a query measures, from the metrics it reads: bytes or a count (events, seconds, ...)."""
    return "bytes" if any("bytes" in name for name in metric_names(grafana_to_promql(expr))) else "count"


def test_no_panel_puts_bytes_and_counts_on_one_axis(dashboard):
    for panel in _panels(dashboard):
        kinds = {_kind(target["expr"]) for target in panel.get("targets", [])}
        assert len(kinds) <= 1, f"panel {panel['title']!r} mixes {sorted(kinds)} on one axis"
        if kinds == {"bytes"}:
            assert panel["fieldConfig"]["defaults"]["unit"] in BYTE_UNITS, panel["title"]


def test_process_panels_read_the_standard_process_metrics_of_datagen_only(dashboard):
    titles = {p["title"].lower(): p for p in _panels(dashboard)}
    memory = next(p for t, p in titles.items() if "process" in t and "memory" in t)
    cpu = next(p for t, p in titles.items() if "process" in t and "cpu" in t)
    assert {n for t in memory["targets"] for n in metric_names(grafana_to_promql(t["expr"]))} == {
        "process_resident_memory_bytes",
        "datagen_info",
    }
    assert memory["fieldConfig"]["defaults"]["unit"] in BYTE_UNITS
    assert any("rate(process_cpu_seconds_total" in t["expr"] for t in cpu["targets"])
    # Prometheus scrapes itself too: joining datagen_info keeps other jobs' process series out
    for target in memory["targets"] + cpu["targets"]:
        assert "and on (job, instance) datagen_info" in target["expr"], target["expr"]
