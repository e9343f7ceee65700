"""The shipped Prometheus config and rules: `promtool check config|rules`, and the alerts' logic
exercised by `promtool test rules` on synthetic series."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.stack import PROMETHEUS_CONFIG, RULES_DIR, require_tool, rule_files


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_promtool_check_config():
    result = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules():
    files = rule_files()
    assert files, f"no rule files in {RULES_DIR}"
    result = promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> dict[str, dict]:
    return {
        rule.get("alert") or rule["record"] + str(rule.get("labels", "")): rule
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }


def test_the_three_alerts_exist_with_for_durations():
    rules = _rules()
    for name in ("DatagenNoEventsDelivered", "DatagenDeliveryFailures", "DatagenRateBelowTarget"):
        assert name in rules, f"missing alert {name}"
        assert rules[name].get("for"), f"{name} has no for: duration"
        assert rules[name]["labels"]["severity"] in {"warning", "critical"}
        assert rules[name]["annotations"]["summary"]
    assert "> 0" in rules["DatagenRateBelowTarget"]["expr"]  # target 0 (= max) is excluded


# Synthetic series, 5 s apart like the shipped scrape interval. `promtool test rules` evaluates the
# shipped rule files over them and compares the alerts and recording-rule values at given times.
UNIT_TESTS = """
rule_files: {rule_files}
evaluation_interval: 5s
tests:
  # a healthy instance: delivering 100/s at its 100/s target, nothing failed -> no alert
  - interval: 5s
    input_series:
      - series: 'datagen_delivered_events_total{{job="datagen", instance="a:9400", topic="t"}}'
        values: '0+500x60'
      - series: 'datagen_failed_events_total{{job="datagen", instance="a:9400", topic="t"}}'
        values: '0x60'
      - series: 'datagen_info{{job="datagen", instance="a:9400", version="0", scenario="s"}}'
        values: '1x60'
      - series: 'datagen_target_rate_events_per_second{{job="datagen", instance="a:9400"}}'
        values: '100x60'
      - series: 'datagen_achieved_rate_events_per_second{{job="datagen", instance="a:9400"}}'
        values: '99x60'
      - series: 'datagen_ready{{job="datagen", instance="a:9400"}}'
        values: '1x60'
    alert_rule_test:
      - {{eval_time: 4m, alertname: DatagenNoEventsDelivered, exp_alerts: []}}
      - {{eval_time: 4m, alertname: DatagenDeliveryFailures, exp_alerts: []}}
      - {{eval_time: 4m, alertname: DatagenRateBelowTarget, exp_alerts: []}}
      - {{eval_time: 4m, alertname: DatagenNotReady, exp_alerts: []}}
    promql_expr_test:
      - expr: topic:datagen_delivered_events:rate1m
        eval_time: 4m
        exp_samples:
          - labels: 'topic:datagen_delivered_events:rate1m{{job="datagen", topic="t"}}'
            value: 100
      # per instance as well: the dashboard's delivered-rate stat filters on $instance
      - expr: instance_topic:datagen_delivered_events:rate1m
        eval_time: 4m
        exp_samples:
          - labels: 'instance_topic:datagen_delivered_events:rate1m{{job="datagen", instance="a:9400", topic="t"}}'
            value: 100

  # deliveries stop at 2m: after a minute without any the alert fires, not before
  - interval: 5s
    input_series:
      - series: 'datagen_delivered_events_total{{job="datagen", instance="a:9400", topic="t"}}'
        values: '0+500x24 12000x40'
      - series: 'datagen_info{{job="datagen", instance="a:9400", version="0", scenario="s"}}'
        values: '1x64'
    alert_rule_test:
      - {{eval_time: 2m30s, alertname: DatagenNoEventsDelivered, exp_alerts: []}}
      - eval_time: 3m15s
        alertname: DatagenNoEventsDelivered
        exp_alerts:
          - exp_labels: {{severity: critical, job: datagen, instance: "a:9400"}}
            exp_annotations:
              summary: datagen a:9400 delivered no events for 1 minute
              description: No event was acknowledged by the sink of a:9400 (job datagen) during the last minute. Check the broker, /readyz and the datagen log.

  # an instance that never delivered anything (no per-topic counters at all) fires too
  - interval: 5s
    input_series:
      - series: 'datagen_info{{job="datagen", instance="b:9400", version="0", scenario="s"}}'
        values: '1x30'
      - series: 'datagen_ready{{job="datagen", instance="b:9400"}}'
        values: '0x30'
    alert_rule_test:
      - {{eval_time: 40s, alertname: DatagenNoEventsDelivered, exp_alerts: []}}
      - eval_time: 2m
        alertname: DatagenNoEventsDelivered
        exp_alerts:
          - exp_labels: {{severity: critical, job: datagen, instance: "b:9400"}}
            exp_annotations:
              summary: datagen b:9400 delivered no events for 1 minute
              description: No event was acknowledged by the sink of b:9400 (job datagen) during the last minute. Check the broker, /readyz and the datagen log.
      - eval_time: 2m
        alertname: DatagenNotReady
        exp_alerts:
          - exp_labels: {{severity: warning, job: datagen, instance: "b:9400"}}
            exp_annotations:
              summary: datagen b:9400 not ready
              description: b:9400 reports its sink not connected or no events flowing (/readyz false) for a minute; it retries with backoff.

  # 20 events fail at 1m: the failures alert fires 30 s later and names the topic
  - interval: 5s
    input_series:
      - series: 'datagen_failed_events_total{{job="datagen", instance="a:9400", topic="t"}}'
        values: '0x12 20x40'
    alert_rule_test:
      - {{eval_time: 1m, alertname: DatagenDeliveryFailures, exp_alerts: []}}
      - eval_time: 1m45s
        alertname: DatagenDeliveryFailures
        exp_alerts:
          - exp_labels: {{severity: critical, job: datagen, instance: "a:9400", topic: t}}
            exp_annotations:
              summary: "datagen a:9400: delivery failures on t"
              description: 20 events to t failed delivery for good in the last 5 minutes on a:9400.

  # achieved 50/s against a 100/s target fires; the same against target 0 (= max) does not
  - interval: 5s
    input_series:
      - series: 'datagen_target_rate_events_per_second{{job="datagen", instance="slow:9400"}}'
        values: '100x60'
      - series: 'datagen_achieved_rate_events_per_second{{job="datagen", instance="slow:9400"}}'
        values: '50x60'
      - series: 'datagen_target_rate_events_per_second{{job="datagen", instance="max:9400"}}'
        values: '0x60'
      - series: 'datagen_achieved_rate_events_per_second{{job="datagen", instance="max:9400"}}'
        values: '50x60'
    alert_rule_test:
      - eval_time: 3m
        alertname: DatagenRateBelowTarget
        exp_alerts:
          - exp_labels: {{severity: warning, job: datagen, instance: "slow:9400"}}
            exp_annotations:
              summary: datagen slow:9400 below 90% of its target rate
              description: "Achieved 50 events/s on slow:9400, under 90% of the target for the last 2 minutes: the producer cannot keep up (broker, CPU or backpressure)."
    promql_expr_test:
      - expr: job:datagen_target_rate_events_per_second:sum
        eval_time: 3m
        exp_samples:
          - labels: 'job:datagen_target_rate_events_per_second:sum{{job="datagen"}}'
            value: 100
"""


def test_alerts_fire_when_they_should(tmp_path):
    tests = tmp_path / "datagen_rules_test.yml"
    tests.write_text(UNIT_TESTS.format(rule_files=[str(p) for p in rule_files()]))
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
