"""The scoreboard end to end on a real broker: drift_ramp and steady_state played through river's ADWIN
(examples/adwin_detector.py), then `datagen score`; and its exit-2 paths on bad input.

drift_ramp is time-compressed: the same three phases and drift blocks with 10-second phases instead of
2 minutes (12x shorter; at the clock's speed 10 each phase spans 100 event-seconds, ~20k events, ~2.8k
transactions initiated), played at --rate max into one partition per topic, so that ADWIN reads
fintech.transactions in event order.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from producer.embedded.broker import free_port
from producer.scenario.loader import resolve_path

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PHASE = "10s"
EVENT_SECONDS_PER_PHASE = 100  # 10 s of scenario time at drift_ramp's clock speed 10
STEADY_EVENTS = "30000"  # 150 event-seconds of steady_state (2000 events/s at speed 10)
WAIT = 30.0  # seconds to wait for the live scores (a bound, not a measurement)


def _run(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root; the completed process."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _play_and_detect(scenario: str, prefix: str, bootstrap: str, registry: str, *run_flags: str) -> None:
    """Play a scenario with ground truth on its topic, then run the ADWIN example over fintech.transactions."""
    connection = ["--bootstrap-servers", bootstrap, "--schema-registry-url", registry]
    played = _run("-m", "producer", "run", scenario, "--rate", "max", "--labels", "topic", "--partitions", "1",
                  "--topic-prefix", prefix, "--no-metrics", *connection, *run_flags)  # fmt: skip
    assert played.returncode == 0, played.stderr[-2000:]
    detected = _run("examples/adwin_detector.py", *connection, "--topic", f"{prefix}fintech.transactions",
                    "--alarms-topic", f"{prefix}alarms", "--idle", "3")  # fmt: skip
    assert detected.returncode == 0, detected.stderr[-2000:]


def _score(prefix: str, bootstrap: str, registry: str, out: Path, *flags: str) -> tuple[str, dict]:
    """`datagen score` of a prefix: its terminal table and its JSON report."""
    scored = _run("-m", "producer", "score", "--topic-prefix", prefix, "--bootstrap-servers", bootstrap,
                  "--schema-registry-url", registry, "--json", str(out / "score.json"),
                  "--html", str(out / "score.html"), *flags)  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-2000:]
    return scored.stdout, json.loads((out / "score.json").read_text())


def test_adwin_detects_the_ramp_inside_it_and_stays_quiet_in_steady_state(
    kafka_bootstrap, schema_registry_url, tmp_path
):
    data = yaml.safe_load(resolve_path("drift_ramp").read_text())
    data["name"] = "drift_ramp_compressed"
    for phase in data["phases"]:
        phase["duration"] = PHASE
    scenario = tmp_path / "drift_ramp_compressed.yaml"
    scenario.write_text(yaml.safe_dump(data))
    ramp = f"ramp{uuid.uuid4().hex[:6]}."
    _play_and_detect(str(scenario), ramp, kafka_bootstrap, schema_registry_url)
    table, report = _score(ramp, kafka_bootstrap, schema_registry_url, tmp_path)
    print(table)  # the README's scoreboard report comes from this output (pytest -s)
    (row,) = [r for r in report["drift"] if r["topic"] == f"{ramp}fintech.transactions"]
    start = datetime.fromisoformat(data["clock"]["start"].replace("Z", "+00:00"))
    ramp_start, ramp_end = (start + timedelta(seconds=EVENT_SECONDS_PER_PHASE * k) for k in (1, 2))
    assert datetime.fromisoformat(row["start"]) == ramp_start and datetime.fromisoformat(row["ramp_end"]) == ramp_end
    assert row["detected"], table
    # detected inside the ramp: after its start, before its end (a linear ramp of 100 event-seconds)
    assert 0 < row["delay_seconds"] <= EVENT_SECONDS_PER_PHASE and row["delay_events"] > 0, table
    assert "<svg" in (tmp_path / "score.html").read_text()

    steady = f"steady{uuid.uuid4().hex[:6]}."
    _play_and_detect("steady_state", steady, kafka_bootstrap, schema_registry_url, "--events", STEADY_EVENTS)
    table, report = _score(steady, kafka_bootstrap, schema_registry_url, tmp_path,
                           "--watch", f"adwin={steady}fintech.transactions")  # fmt: skip
    print(table)
    (false,) = report["false_alarms"]
    assert false["hours"] > 0.04, false  # the whole run, ~150 event-seconds, is outside drift
    # ADWIN bounds the chance of a false cut per check by delta = 0.002 (Bifet & Gavalda 2007, Thm 3.1); it
    # checks every 32 values, ~130 checks over ~4.2k amounts here: at most 0.26 false alarms expected, so
    # two or more means the example or the scorer is wrong (measured: 0 with seeds 42, 1, 2, 3)
    assert false["count"] <= 1, table


def _produce(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value, partition=0)  # auto-created topics may have several partitions
    assert producer.flush(30) == 0


def test_bad_input_exits_2_with_one_line_naming_it(kafka_bootstrap, schema_registry_url):
    prefix = f"bad{uuid.uuid4().hex[:6]}."
    argv = ["-m", "producer", "score", "--bootstrap-servers", kafka_bootstrap, "--schema-registry-url",
            schema_registry_url, "--topic-prefix", prefix]  # fmt: skip

    def fails(expected: str) -> None:
        result = _run(*argv)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("datagen: error:") == 1

    fails(f"topic '{prefix}ground-truth': expected an existing topic, found none")
    label = {"kind": "event", "event_id": str(uuid.uuid4()), "topic": "t", "timestamp": "2026-01-05T08:00:00+00:00",
             "entity_key": "k", "truth": {"is_anomaly": False, "drift_progress": 0.0}}  # fmt: skip
    _produce(kafka_bootstrap, f"{prefix}ground-truth", json.dumps(label).encode())
    fails(f"topic '{prefix}alarms': expected an existing topic, found none")
    alarm = {"detector": "d", "topic": "t", "kind": "shift", "event_id": None, "event_time": label["timestamp"]}
    _produce(kafka_bootstrap, f"{prefix}alarms", json.dumps(alarm).encode())
    fails(f"{prefix}alarms[0]@0: kind: expected drift or anomaly, found 'shift'")
    _produce(kafka_bootstrap, f"{prefix}ground-truth", b"\x00\x00\x00\x00\x07garbage")
    fails(f"{prefix}ground-truth[0]@1: value: expected a JSON or registry-framed Avro record")


def test_follow_serves_live_scores_of_json_records_and_reports_on_sigterm(kafka_bootstrap):
    prefix = f"live{uuid.uuid4().hex[:6]}."
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    labels = [{"kind": "event", "event_id": str(uuid.uuid4()), "topic": "t", "entity_key": "k",
               "timestamp": (start + timedelta(seconds=i)).isoformat(),
               "truth": {"is_anomaly": False, "drift_progress": 0.0}} for i in range(3600)]  # fmt: skip
    _produce(kafka_bootstrap, f"{prefix}ground-truth", *(json.dumps(label).encode() for label in labels))
    alarm = {"detector": "d", "topic": "t", "kind": "drift", "event_id": None, "event_time": labels[10]["timestamp"]}
    _produce(kafka_bootstrap, f"{prefix}alarms", json.dumps(alarm).encode())
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer",
            "score",
            "--follow",
            "--metrics-port",
            str(port),
            "--topic-prefix",
            prefix,
            "--bootstrap-servers",
            kafka_bootstrap,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # one alarm, no drift episode: 1 false alarm in 3599 event-seconds, 1.0003 per event-hour
        wanted = 'datagen_score_false_alarms_per_hour{detector="d",topic="t"} 1.000'
        deadline, body = time.monotonic() + WAIT, ""
        while wanted not in body and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                continue
        assert wanted in body, body
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert re.search(r"d\s+t\s+1\s+0\.9997", out), out
