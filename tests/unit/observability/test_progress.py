"""Progress readings, estimates and lines (producer/observability/progress.py), and the drift they read."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from producer.app import Run, RunSettings
from producer.observability.progress import (
    Horizon,
    ProgressReporter,
    Reading,
    estimate,
    merge_readings,
    phase_line,
    progress_line,
    reading_dict,
)
from producer.observability.stats import RunStats
from producer.redact import JsonLogFormatter
from producer.scheduling.drift import DriftPlan

TWO_PHASES = """\
name: two_phases
seed: 3
streams:
  fintech.transactions: {weight: 1}
phases:
  - {name: calm, duration: 2s, rate: 300}
  - name: shift
    duration: 60s
    rate: 600
    drift:
      - stream: fintech.transactions
        params: {travel_share: 0.3}
        curve: linear
"""


def reading(at: float, delivered: int, **changes: object) -> Reading:
    base = {
        "at": at,
        "topics": {"t": (delivered, delivered, 0)},
        "generated": delivered,
        "target_rate": 100.0,
        "achieved_rate": 100.0,
        "queue_depth": 3,
        "phase": "calm",
        "phase_index": 0,
        "phase_t": at,
        "phase_seconds": 10.0,
        "tau": at,
        "drift": {"fintech": 0.25},
    }
    return Reading(**(base | changes))  # type: ignore[arg-type]


def test_estimate_names_the_first_limit_and_the_phase_left() -> None:
    first, now = reading(0.0, 0), reading(4.0, 400)
    horizon = Horizon(("calm", "shift"), scenario_seconds=30.0, events=1000, deadline=100.0)
    est = estimate(horizon, first, first, now)
    assert est.topic_rates == {"t": 100.0}
    assert est.phase_left == 6.0  # paced: one scenario second per wall second
    assert (est.ends_in, est.ends_by) == (6.0, "events")  # 600 events left at 100/s, before 26 s and 96 s
    forever = estimate(Horizon(("calm",), float("inf")), first, first, now)
    assert (forever.ends_in, forever.ends_by) == (None, "")


def test_estimate_measures_scenario_speed_at_max_rate() -> None:
    first, now = reading(0.0, 0, tau=0.0), reading(2.0, 0, tau=20.0, phase_t=5.0)
    est = estimate(Horizon(("calm",), 60.0), first, first, now)
    assert est.phase_left == 0.5 and est.ends_in == 4.0  # 10 scenario seconds per wall second


def test_merge_sums_counts_and_takes_the_phase_furthest_on() -> None:
    a = reading_dict(reading(1.0, 10, tau=5.0, drift={"fintech": 0.2}))
    b = reading_dict(reading(1.0, 30, tau=6.0, phase="shift", phase_index=1, drift={"fintech": 0.3, "telco": 0.1}))
    merged = merge_readings(json.loads(json.dumps([a, b])))  # as the workers' reports carry them
    assert merged is not None
    assert merged.topics == {"t": (40, 40, 0)} and merged.generated == 40 and merged.queue_depth == 6
    assert merged.achieved_rate == 200.0 and (merged.phase, merged.phase_index) == ("shift", 1)
    assert merged.drift == {"fintech": 0.3, "telco": 0.1}
    assert merge_readings([]) is None


def test_lines_in_key_value_and_json() -> None:
    horizon = Horizon(("calm", "shift"), 30.0)
    first, now = reading(0.0, 0), reading(10.0, 1000)
    est = estimate(horizon, first, first, now)
    text = progress_line(horizon, now, est, "text")
    fields = dict(part.split("=", 1) for part in text.split())
    assert fields["event"] == "progress" and fields["phase_index"] == "1/2" and fields["ends_by"] == "scenario-end"
    assert fields["topic.t.rate"] == "100" and fields["drift.fintech"] == "0.25" and fields["queue_depth"] == "3"
    data = json.loads(progress_line(horizon, now, est, "json"))
    assert data["topics"]["t"] == {"rate": 100.0, "delivered": 1000, "failed": 0} and data["ends_in_s"] == 20.0
    changed = json.loads(phase_line(horizon, reading(2.0, 0, phase="shift", phase_index=1), "calm", 2.0, "json"))
    assert (changed["event"], changed["phase"], changed["phase_index"], changed["previous"]) == (
        "phase",
        "shift",
        "2/2",
        "calm",
    )


def test_reporter_prints_a_phase_line_per_phase_and_lines_on_its_interval() -> None:
    readings = iter([reading(0.0, 0), reading(0.5, 50), reading(1.0, 100, phase="shift", phase_index=1)])
    out = io.StringIO()
    reporter = ProgressReporter(lambda: next(readings), Horizon(("calm", "shift"), 30.0), out, False, interval=1.0)
    for _ in range(3):
        reporter._step()  # what its thread does every POLL seconds
    events = [dict(p.split("=", 1) for p in line.split())["event"] for line in out.getvalue().splitlines()]
    assert events == ["phase", "phase", "progress"]


def test_drift_progress_follows_the_scheduler_not_the_latest_block(tmp_path: Path) -> None:
    """The drift gauge (and view) at the run's scenario instant: it stood still over a block before."""
    path = tmp_path / "two_phases.yaml"
    path.write_text(TWO_PHASES)
    # 2 s of calm at 300/s, then 5 s into the shift at 600/s: a drift of 5/60 at the last event; paced
    # at 6,000/s (0.6 s of wall time) so the scheduler observes every 120 events, as it does on a real run
    settings = RunSettings(str(path), events=600 + 3000, rate=6000.0, sink="file", out=tmp_path, metrics_port=None)
    run = Run(settings, out=io.StringIO())
    assert run.execute() == 0
    stats: RunStats = run.stats
    plan = DriftPlan(run.loaded.scenario, run.loaded.params)
    expected = plan.drift_progress("fintech.transactions", stats.tau)
    assert 0.05 < expected < 0.12  # the instant is where the counts above put it (±2 s of the shift)
    assert abs(stats.drift_progress["fintech"] - expected) < 1e-3, (stats.drift_progress, expected)


def test_json_log_lines_for_log_shippers_hide_url_credentials() -> None:
    record = logging.LogRecord(
        "producer.app", logging.WARNING, __file__, 1, "registry %s down", ("http://u:pw@r:8081",), None
    )
    line = json.loads(JsonLogFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "producer.app",
        "registry http://r:8081 down",
    )
    assert line["ts"].endswith("Z")
