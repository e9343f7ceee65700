"""Each bundled scenario, run briefly (accelerated) to the file sink, checked on its output.

Statistical checks use fixed seeds (the scenarios') and state their thresholds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from producer.cli import main
from producer.scenario.durations import parse_duration
from producer.scenario.loader import BUNDLED_DIR


def accelerated(tmp_path: Path, name: str, factor: float, **top) -> Path:
    """A copy of a bundled scenario with every phase `factor` times shorter (windows scaled too)."""
    data = yaml.safe_load((BUNDLED_DIR / f"{name}.yaml").read_text())
    for phase in data["phases"]:
        for key in ("duration", "event_duration"):
            if key in phase:
                phase[key] = parse_duration(phase[key]) / factor
        for block in phase.get("drift", []) + phase.get("inject", []):
            for key in ("start", "duration"):
                if key in block:
                    block[key] = parse_duration(block[key]) / factor
    data.update(top)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(scenario: Path | str, out: Path, *flags: str) -> Path:
    assert (
        main(
            [
                "run",
                str(scenario),
                "--sink",
                "file",
                "--format",
                "jsonl",
                "--out",
                str(out),
                "--rate",
                "max",
                "--no-metrics",
                *flags,
            ]
        )
        == 0
    )
    return out


def read(out: Path, stream: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{stream}.jsonl").read_text().splitlines()]


# -- drift_ramp ---------------------------------------------------------------------------------


def psi(expected: np.ndarray | list, actual: np.ndarray | list, bins: int = 10) -> float:
    """Population stability index over the expected sample's deciles (< 0.1 stable, > 0.25 shifted)."""
    expected, actual = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.clip(np.histogram(expected, edges)[0] / len(expected), 1e-6, None)
    q = np.clip(np.histogram(actual, edges)[0] / len(actual), 1e-6, None)
    return float(np.sum((q - p) * np.log(q / p)))


def windows(events: list[dict], first: str, second: str, key) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([key(e) for e in events if e["truth"]["phase"] == first], dtype=float)
    b = np.array([key(e) for e in events if e["truth"]["phase"] == second], dtype=float)
    return a, b


def amount(event: dict) -> float:
    return float(event["payload"]["amount"])


def recency(event: dict) -> float:
    return float(event["payload"]["days_since_last_order"])


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift")
    return run(accelerated(tmp, "drift_ramp", 4), tmp / "out")


def test_drift_ramp_is_detected_by_ks_between_baseline_and_plateau(drift_run):
    transactions = [e for e in read(drift_run, "fintech.transactions") if e["event_type"] == "transaction-initiated"]
    base, drifted = windows(transactions, "baseline", "plateau", amount)
    assert psi(base, drifted) > 0.25  # amounts: log-normal mean 4.5 -> 5.7 is a significant shift
    assert stats.ks_2samp(base, drifted).pvalue < 1e-6
    customers = read(drift_run, "ecommerce.customers")
    base, drifted = windows(customers, "baseline", "plateau", recency)
    assert psi(base, drifted) > 0.25  # risk mix 50/30/20 -> 10/30/60, low risk worsens
    assert stats.ks_2samp(base, drifted).pvalue < 1e-6
    levels = Counter(e["truth"]["risk_level"] for e in customers if e["truth"]["phase"] == "plateau")
    assert levels["high"] / sum(levels.values()) > 0.45  # target 60% high
    progress = [e["truth"]["drift_progress"] for e in customers]
    assert min(progress) == 0.0 and max(progress) == pytest.approx(1.0, abs=0.01)


def test_steady_state_windows_are_not_flagged(tmp_path):
    out = run("steady_state", tmp_path, "--events", "160000")
    transactions = [e for e in read(out, "fintech.transactions") if e["event_type"] == "transaction-initiated"]
    # PSI, not a KS p-value: velocity spikes and structuring series make amounts autocorrelated,
    # so at n ~ 20k a KS test "detects" clustering, not drift (steady PSI is ~0.015 here)
    half = len(transactions) // 2
    a, b = [amount(e) for e in transactions[:half]], [amount(e) for e in transactions[half:]]
    assert psi(a, b) < 0.1  # stable
    customers = read(out, "ecommerce.customers")
    half = len(customers) // 2
    a, b = [recency(e) for e in customers[:half]], [recency(e) for e in customers[half:]]
    assert psi(a, b) < 0.1


# -- fraud_burst --------------------------------------------------------------------------------


def test_fraud_bursts_raise_the_labelled_share_at_least_five_fold(tmp_path):
    """Over three cycles (a quiet minute, then a 30 s burst), as the CLI writes them to files.

    A stream's background is its labelled share outside the bursts, less the episodes that outlive
    their burst (labelled truth.injected). One cycle is too few: telematics' anomalies come in
    speeding windows of ~50 events, so a single quiet minute holds zero to three of them.
    """
    spec = yaml.safe_load((BUNDLED_DIR / "fraud_burst.yaml").read_text())
    start = datetime.fromisoformat(spec["clock"]["start"].replace("Z", "+00:00"))
    speed, cycles = float(spec["clock"]["speed"]), 3 * 90.0  # scenario seconds
    out = run("fraud_burst", tmp_path, "--events", "600000")  # ~540k in three cycles at seed 13
    totals = Counter()
    for stream in ("fintech.transactions", "fintech.sessions", "telco.accounts", "telematics.driving-events"):
        counts = Counter()
        for event in read(out, stream):
            at = (datetime.fromisoformat(event["timestamp"]) - start).total_seconds() / speed
            if at >= cycles:
                continue
            truth = event["truth"]
            where = "in" if truth["phase"] == "burst" else "out"
            counts[where] += 1
            if truth["is_anomaly"]:
                counts["carried" if where == "out" and truth["injected"] else where + "_anomalous"] += 1
        assert counts["in"] and counts["out"] > counts["in"], (stream, counts)  # all three cycles are there
        totals.update(counts)
        inside, outside = counts["in_anomalous"] / counts["in"], counts["out_anomalous"] / counts["out"]
        assert inside >= 5 * outside, (stream, inside, outside)
    assert totals["in_anomalous"] / totals["in"] >= 5 * totals["out_anomalous"] / totals["out"]
    patterns = {e["truth"]["pattern"] for e in read(out, "fintech.transactions") if e["truth"]["is_anomaly"]}
    assert patterns >= {"structuring", "velocity_spike", "fraud"}


# -- disorder -----------------------------------------------------------------------------------


def test_disorder_block_gives_labelled_late_events_at_the_configured_share(tmp_path):
    scenario = accelerated(
        tmp_path,
        "steady_state",
        1,
        disorder={
            "late_share": 0.03,
            "lateness": {"distribution": "exponential", "mean": "20s", "max": "2m"},
            "duplicate_share": 0.01,
        },
    )
    out = run(scenario, tmp_path / "out", "--events", "60000")
    events = [e for f in sorted(out.glob("*.jsonl")) for e in map(json.loads, f.read_text().splitlines())]
    labels = Counter(e["truth"]["disorder"] for e in events)
    originals = len(events) - labels["duplicate"]
    assert abs(labels["late"] / originals - 0.03) < 0.004  # 3% ± 0.4 pp on 60k, seed 42
    assert abs(labels["duplicate"] / originals - 0.01) < 0.003  # 1% ± 0.3 pp
    late = [e for e in events if e["truth"]["disorder"] == "late"]
    assert all(e["truth"]["delay_ms"] > 0 for e in late)


# -- lifecycle_replay ---------------------------------------------------------------------------


def test_lifecycle_replay_is_in_event_time_order_with_natural_calendars(tmp_path):
    out = run("lifecycle_replay", tmp_path, "--events", "60000")
    everything = []
    for path in sorted(out.glob("*.jsonl")):
        events = [json.loads(line) for line in path.read_text().splitlines()]
        stamps = [datetime.fromisoformat(e["timestamp"]) for e in events]
        assert stamps == sorted(stamps), f"{path.name} not in event-time order"
        everything.extend(events)
    customers = read(out, "ecommerce.customers")
    per_customer = defaultdict(list)
    for event in customers:
        per_customer[event["payload"]["customer_id"]].append(datetime.fromisoformat(event["timestamp"]))
    gaps = {(b - a).days for stamps in per_customer.values() for a, b in pairwise(stamps)}
    assert gaps == {7}  # weekly snapshots, at their natural spacing
    span = max(datetime.fromisoformat(e["timestamp"]) for e in everything) - min(
        datetime.fromisoformat(e["timestamp"]) for e in everything
    )
    assert span.days >= 30  # months of event time replayed


# -- sharding and determinism -------------------------------------------------------------------


def test_shards_of_a_bundled_scenario_are_disjoint_and_complete(tmp_path):
    scenario = accelerated(tmp_path, "fraud_burst", 6, repeat=1)  # 15 s of scenario time, then it ends
    whole = run(scenario, tmp_path / "whole")
    parts = [run(scenario, tmp_path / f"s{i}", "--shard", f"{i}/2") for i in range(2)]
    for path in sorted(whole.glob("*.jsonl")):
        lines = Counter(path.read_text().splitlines())
        split = [Counter((p / path.name).read_text().splitlines()) for p in parts]
        assert split[0] + split[1] == lines, path.name
        keys = [{json.loads(line)["event_id"] for line in s} for s in split]
        assert not keys[0] & keys[1]


def test_same_seed_same_output_for_a_drifting_scenario(tmp_path):
    scenario = accelerated(tmp_path, "drift_ramp", 24)
    a = run(scenario, tmp_path / "a", "--events", "30000")
    b = run(scenario, tmp_path / "b", "--events", "30000", "--rate", "5000")
    for path in sorted(a.glob("*.jsonl")):
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


# -- stress_test --------------------------------------------------------------------------------


def test_stress_test_runs_flat_out_with_bounded_generator_state(tmp_path):
    from itertools import islice

    from producer.scenario.loader import load_scenario
    from producer.scheduling.sources import EventSource

    source = EventSource(load_scenario("stress_test"))
    held = []
    for _ in range(6):
        assert len(list(islice(source, 25_000))) == 25_000
        held.append(source.pending_events)
    # follow-ups held back stay bounded (natural delays of seconds to minutes, never run length)
    assert max(held) < 5_000, held
    out = run("stress_test", tmp_path, "--events", "40000", "--format", "avro")
    assert len(list(out.glob("*.avro"))) == 8
