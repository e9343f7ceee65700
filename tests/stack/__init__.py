"""Tests of the real stack: compose file, Prometheus config and rules, Grafana dashboard, Dockerfile.

Helpers shared by those tests live here: finding the Debian tools (docker-compose, promtool,
prometheus), running a real `datagen` that serves /metrics, and reading PromQL expressions and the
metric names they use out of the shipped rules and dashboard.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile.datagen"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "datagen.json"
DATASOURCE_UID = "datagen-prometheus"
INSTALL_HINT = "apt-get install -y docker-compose prometheus (what .ci/run does)"


def in_ci() -> bool:
    """True on CI (CI=true), where a missing tool is a failure rather than a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_tool(name: str) -> str:
    """The path of a command-line tool; skip without it on a developer machine, fail in CI."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found on PATH; install it: {INSTALL_HINT}"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def rule_files() -> list[Path]:
    """The shipped Prometheus rule files."""
    return sorted(RULES_DIR.glob("*.yml"))


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> bytes:
    """GET a URL, return the body (raises on non-2xx)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


# --- a running datagen -------------------------------------------------------------------------

LONG_SCENARIO = """\
name: stack_check
description: Runs until stopped, for the stack tests (one long steady phase).
seed: 7
streams:
  fintech.transactions: {weight: 1}
phases:
  - {name: steady, duration: 10m, rate: 300}
"""


@dataclass
class RunningDatagen:
    """A `python -m producer run` child process serving /metrics on loopback."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape(self) -> str:
        return http_get(self.metrics_url).decode()


@contextmanager
def running_datagen(workdir: Path, rate: int = 300, timeout: float = 30.0) -> Iterator[RunningDatagen]:
    """Play a long steady scenario to the file sink with metrics on a free port; stop it at exit."""
    scenario = workdir / "stack_check.yaml"
    scenario.write_text(LONG_SCENARIO)
    log = workdir / "datagen.log"
    skipped = {"KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATAGEN_SHARD"}
    env = {k: v for k, v in os.environ.items() if k not in skipped}
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "producer",
                "run",
                str(scenario),
                "--sink",
                "file",
                "--out",
                str(workdir / "out"),
                "--rate",
                str(rate),
                "--metrics-port",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        port = None
        deadline = time.monotonic() + timeout
        while port is None:
            match = re.search(r"metrics: http://[^:/]+:(\d+)/metrics", log.read_text(errors="replace"))
            if match:
                port = int(match.group(1))
            elif process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"datagen did not start serving metrics (exit {process.poll()}):\n{log.read_text()}"
                )
            else:
                time.sleep(0.1)
        running = RunningDatagen(process, port, log)
        while True:  # serving and producing: labelled families appear with the first events of each kind
            try:
                body = running.scrape()
                if all(
                    f"{name}{{" in body
                    for name in ("datagen_delivered_events_total", "datagen_injected_anomalies_total")
                ):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"datagen /metrics never showed deliveries:\n{log.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (twice: a second one ends a datagen's flush or linger), then SIGKILL if still running."""
    for _ in range(2):
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout / 2)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait(timeout)


def exposed_sample_names(exposition: str) -> set[str]:
    """Names of the samples in a Prometheus text exposition (histograms give _bucket, _sum, _count)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


# --- PromQL in the shipped files ---------------------------------------------------------------

GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "15m",
    "${__range}": "15m",
}
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "inf",
    "nan",
    "atan2",
}
_TOKEN = re.compile(
    r"(?P<number>0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)"
)


@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it comes from."""

    where: str
    expr: str


def grafana_to_promql(expr: str) -> str:
    """A Grafana query with its built-in and template variables replaced by plain PromQL."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", ".*", expr)  # $topic inside a =~ matcher


def dashboard_expressions(dashboard: dict | None = None) -> list[Expression]:
    """Every target expression of every panel (rows included), Grafana variables substituted."""
    dashboard = dashboard if dashboard is not None else json.loads(DASHBOARD.read_text())
    found = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            found.extend(
                Expression(
                    f"panel {panel.get('title')!r} target {target.get('refId')}", grafana_to_promql(target["expr"])
                )
                for target in panel.get("targets", [])
                if target.get("expr")
            )
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found


def dashboard_variable_metrics(dashboard: dict | None = None) -> dict[str, str]:
    """Template variable name -> the metric its label_values() query reads."""
    dashboard = dashboard if dashboard is not None else json.loads(DASHBOARD.read_text())
    out = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = re.match(r"\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", text)
        if match:
            out[variable["name"]] = match.group(1)
    return out


def rules_expressions() -> list[Expression]:
    """Every expression of the shipped recording and alerting rules."""
    found = []
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                found.append(Expression(f"{path.name}: {name}", rule["expr"]))
    return found


def recording_rule_names() -> set[str]:
    """Series names defined by the shipped recording rules."""
    return {
        rule["record"]
        for path in rule_files()
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def metric_names(expr: str) -> set[str]:
    """The metric (series) names a PromQL expression selects.

    Strings, label matchers, ranges, grouping label lists and offsets are removed first; what is
    left that is neither a function/aggregation (followed by '('), a keyword nor a number is a name.
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^{}]*\}", "{}", text)
    text = re.sub(r"\[[^\[\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    text = re.sub(r"\boffset\s+-?[0-9smhdwy]+", " ", text)
    names = set()
    for match in _TOKEN.finditer(text):
        ident = match.group("ident")
        if ident is None or ident in _KEYWORDS:
            continue
        if re.match(r"\s*\(", text[match.end() :]):
            continue
        names.add(ident)
    return names
