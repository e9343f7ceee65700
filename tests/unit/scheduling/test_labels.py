"""Per-event labels: truth.phase and truth.drift_progress from each event's own timestamp, on every topic."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from producer.domains.common.base import Event
from producer.domains.common.rows import RowSet, as_parts
from producer.domains.fintech.transactions import TransactionParams
from producer.scenario.loader import load_scenario, resolve_path
from producer.scenario.model import Scenario
from producer.scheduling import sources
from producer.scheduling.drift import DriftPlan
from producer.scheduling.labels import relabel
from producer.scheduling.timeline import Timeline


def scenario_file(tmp_path: Path, name: str, edit) -> Path:
    """A bundled scenario with `edit` applied, written to a file."""
    data = yaml.safe_load(resolve_path(name).read_text())
    edit(data)
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def phase_mismatches(source: sources.EventSource, events: list[Event]) -> int:
    """Events whose truth.phase is not the phase containing their own event time."""
    at = source.timeline.at
    return sum(1 for e in events if e.value["truth"]["phase"] != at(source.tau_of(e)).phase.name)


@pytest.mark.slow  # reads the shared three cycles of fraud_burst (~540k events, tests/unit/scheduling/conftest.py)
def test_fraud_burst_phase_is_the_phase_of_the_event_time(fraud_burst_three_cycles):
    source, events = fraud_burst_three_cycles  # three whole cycles: five phase changes
    assert len(events) > 500_000
    assert {e.value["truth"]["phase"] for e in events} == {"quiet", "burst"}
    assert phase_mismatches(source, events) == 0


def short_phases(data: dict) -> None:
    data["name"] = "short_phases"
    data["streams"] = {
        "fintech.transactions": {"weight": 0.4},
        "fintech.circles": {"weight": 0.3, "params": {"max_active_circles": 60}},
        "telematics.driving-events": {"weight": 0.3, "params": {"max_active_trips": 100}},
    }
    data["phases"] = [{"name": f"p{i}", "duration": "1s", "rate": 2000} for i in range(5)]
    data["repeat"] = 3


def test_one_second_phases_label_every_event_by_its_own_time(tmp_path):
    loaded = load_scenario(scenario_file(tmp_path, "fraud_burst", short_phases))
    source = sources.EventSource(loaded)
    events = list(source)
    assert len(events) > 20_000
    assert phase_mismatches(source, events) == 0
    # the same, from whole microseconds: phase i of pass k spans [start + (5k + i) s x 1e6 / speed, ...)
    clock = loaded.scenario.clock
    step_us = int(1_000_000 * clock.speed)
    names = [f"p{(e.time_us - clock.start_us) // step_us % 5}" for e in events]
    assert [e.value["truth"]["phase"] for e in events] == names


def test_the_check_catches_arrival_labels(tmp_path, monkeypatch):
    """Without relabel, follow-ups keep their arrival's phase: the checks above would fail."""
    monkeypatch.setattr(sources, "relabel", lambda events, *_: events)
    source = sources.EventSource(load_scenario(scenario_file(tmp_path, "fraud_burst", short_phases)))
    # four one-second phases suffice: 561 of the first 8,000 events mislabelled at seed 13 (2,674 of all ~30k)
    assert phase_mismatches(source, list(itertools.islice(source, 8_000))) > 0


def short_ramp(data: dict) -> None:
    data["name"] = "short_ramp"
    for phase in data["phases"]:
        phase["duration"] = "6s"


def test_drift_progress_is_exact_per_event_and_one_in_the_plateau(tmp_path):
    source = sources.EventSource(load_scenario(scenario_file(tmp_path, "drift_ramp", short_ramp)))
    events = list(source)
    plan = source.plan
    assert all(e.value["truth"]["drift_progress"] == plan.drift_progress(e.stream, source.tau_of(e)) for e in events)
    plateau = [
        e
        for e in events
        if e.value["event_type"].startswith("transaction-")
        and source.timeline.at(source.tau_of(e)).phase.name == "plateau"
    ]
    circles = [e for e in plateau if e.value["payload"]["type"] in ("circle_contribution", "circle_payout")]
    assert circles and len(circles) < len(plateau)  # fintech.transactions' own and those fintech.circles emits
    assert {e.value["truth"]["drift_progress"] for e in plateau} == {1.0}
    assert phase_mismatches(source, events) == 0


def test_relabel_sets_label_columns_and_events_copy_on_write():
    scenario = Scenario.model_validate(
        {
            "name": "s",
            "clock": {"start": "2026-01-01T00:00:00Z", "speed": 1.0},
            "streams": {"fintech.transactions": {}},
            "phases": [{"name": "a", "duration": "10s", "rate": 10}, {"name": "b", "duration": "10s", "rate": 10}],
        }
    )
    timeline = Timeline(scenario)
    plan = DriftPlan(scenario, {})
    start = scenario.clock.start_us
    shared = {"phase": "a", "drift_progress": 0.0, "is_anomaly": False}
    before = dict(shared)
    events = [Event("fintech.transactions", "k", start + s * 1_000_000, {"truth": shared}) for s in (1, 9, 10, 15)]
    rows = relabel(RowSet.of_parts(as_parts(events)), timeline, plan, start, 1_000_000.0)
    assert rows.phase.tolist() == ["a", "a", "b", "b"] and rows.drift.tolist() == [0.0] * 4
    out = rows.events()
    assert shared == before
    assert out[0] is events[0] and out[1] is events[1]  # unchanged events are the same objects
    assert [e.value["truth"]["phase"] for e in out] == ["a", "a", "b", "b"]
    assert out[2].value["truth"] is not shared and events[2].value["truth"] is shared


def test_drift_progress_many_matches_one_at_a_time():
    scenario = Scenario.model_validate(
        {
            "name": "s",
            "streams": {"fintech.transactions": {}},
            "repeat": 3,
            "phases": [
                {"name": "a", "duration": "10s", "rate": 10},
                {
                    "name": "b",
                    "duration": "10s",
                    "rate": 10,
                    "drift": [
                        {"stream": "fintech.transactions", "params": {"travel_share": 0.2}, "curve": "sigmoid"},
                        {
                            "stream": "fintech.transactions",
                            "params": {"travel_share": 0.5},
                            "curve": {"curve": "step", "at": 0.5},
                            "start": "2s",
                            "duration": "3s",
                            "persist": False,
                        },
                    ],
                },
            ],
        }
    )
    plan = DriftPlan(scenario, {"fintech.transactions": TransactionParams()})
    for low in (0.0, 9.5, 12.0, 14.9, 19.9, 25.0, 31.0, 52.0):
        taus = [low + k * 0.037 for k in range(200)]
        expected = [plan.drift_progress("fintech.transactions", t) for t in taus]
        assert plan.drift_progress_many("fintech.transactions", taus) == expected
