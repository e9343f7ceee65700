"""The ground-truth topic of a whole run: per-event labels true to each event, drift episodes announced."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fastavro
import pytest
import yaml

from producer.cli import main
from producer.scenario.loader import resolve_path

DRIFTING = {
    "ecommerce.customers",
    "telematics.driving-events",
    "fintech.transactions",
    "fintech.remittances",
    "telco.accounts",
}


@pytest.fixture
def short_ramp(tmp_path) -> Path:
    """drift_ramp with 6-second phases (36k events): the same drift blocks, a run of seconds."""
    data = yaml.safe_load(resolve_path("drift_ramp").read_text())
    data["name"] = "short_ramp"
    for phase in data["phases"]:
        phase["duration"] = "6s"
    path = tmp_path / "short_ramp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def ground_truth(out: Path, fmt: str) -> list[dict]:
    """Every record of the ground-truth file, timestamps as datetimes."""
    if fmt == "avro":
        with open(out / "ground-truth.avro", "rb") as handle:
            return list(fastavro.reader(handle))
    records = [json.loads(line) for line in (out / "ground-truth.jsonl").read_text().splitlines()]
    for record in records:
        record["timestamp"] = datetime.fromisoformat(record["timestamp"])
        if record["drift"]:
            for bound in ("start", "end"):
                record["drift"][bound] = datetime.fromisoformat(record["drift"][bound])
    return records


@pytest.mark.parametrize("fmt", ["jsonl", "avro"])
def test_drift_ramp_ground_truth_has_exact_labels_and_one_record_per_drift_block(short_ramp, tmp_path, fmt):
    out = tmp_path / fmt
    argv = ["run", str(short_ramp), "--sink", "file", "--out", str(out), "--no-metrics", "--rate", "max"]
    assert main([*argv, "--format", fmt, "--labels", "topic"]) == 0
    records = ground_truth(out, fmt)
    drifts = [r for r in records if r["kind"] == "drift"]
    assert {r["drift"]["stream"] for r in drifts} == DRIFTING and len(drifts) == 5
    clock = datetime(2026, 3, 2, 8, tzinfo=UTC)  # drift_ramp's clock start; speed 10: the ramp is event 60..120 s
    for record in drifts:
        drift = record["drift"]
        assert drift["start"] == record["timestamp"] == clock + timedelta(seconds=60)
        assert drift["end"] == clock + timedelta(seconds=120) and drift["persist"] is True
        assert record["topic"] == drift["stream"] and record["truth"]["phase"] == "ramp"
    moves = {(r["drift"]["stream"], m["path"]): (m["from"], m["to"]) for r in drifts for m in r["drift"]["params"]}
    assert moves["ecommerce.customers", "risk_distribution.high"] == (0.2, 0.6)
    assert moves["telematics.driving-events", "over_speed_mph.max_mph"][1] == 50.0
    assert moves["fintech.remittances", "exchange_rate_volatility"][1] == 0.06
    # each drift record comes before the first label at or after its start, and none before it
    first_after = min(
        i for i, r in enumerate(records) if r["kind"] == "event" and r["timestamp"] >= drifts[0]["timestamp"]
    )
    assert all(records.index(r) < first_after for r in drifts)
    assert all(r["timestamp"] < drifts[0]["timestamp"] for r in records[: records.index(drifts[0])])
    # per-event labels: every fintech.transactions label in the plateau (circles' included) says 1.0
    plateau = [r for r in records if r["kind"] == "event" and r["timestamp"] >= clock + timedelta(seconds=120)]
    assert {r["truth"]["phase"] for r in plateau} == {"plateau"}
    transactions = [r for r in plateau if r["topic"] == "fintech.transactions"]
    assert transactions and {r["truth"]["drift_progress"] for r in transactions} == {1.0}


def test_a_run_stopped_before_the_drift_announces_none_and_one_stopped_after_has_them_all(short_ramp, tmp_path):
    argv = [
        "run",
        str(short_ramp),
        "--sink",
        "file",
        "--no-metrics",
        "--rate",
        "max",
        "--format",
        "jsonl",
        "--labels",
        "topic",
    ]
    assert main([*argv, "--out", str(tmp_path / "early"), "--events", "3000"]) == 0
    assert not [r for r in ground_truth(tmp_path / "early", "jsonl") if r["kind"] == "drift"]
    # the ramp starts after the baseline's 12k events (its rate × length; pacing counts events by event time)
    assert main([*argv, "--out", str(tmp_path / "late"), "--events", "16000"]) == 0
    assert len([r for r in ground_truth(tmp_path / "late", "jsonl") if r["kind"] == "drift"]) == 5
