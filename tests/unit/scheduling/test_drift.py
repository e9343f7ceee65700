"""Drift plans: effective params along a curve, overlap, persistence, passes; injection windows."""

from __future__ import annotations

import pytest

from producer.domains.fintech.transactions import TransactionParams
from producer.scenario.model import Scenario
from producer.scheduling.drift import DriftPlan, interpolate

STREAM = "fintech.transactions"


def plan(phases, repeat=1) -> DriftPlan:
    scenario = Scenario.model_validate({"name": "d", "streams": {STREAM: {}}, "phases": phases, "repeat": repeat})
    return DriftPlan(scenario, {STREAM: TransactionParams()})


def test_interpolate_numbers_ints_and_tables():
    assert interpolate(0.0, 1.0, 0.25) == 0.25
    assert interpolate(10, 20, 0.26) == 13 and isinstance(interpolate(10, 20, 0.26), int)
    assert interpolate({"a": 1.0, "b": 0.0}, {"b": 1.0}, 0.5) == {"a": 1.0, "b": 0.5}
    assert interpolate("x", "y", 0.4) == "x" and interpolate("x", "y", 0.6) == "y"


def test_linear_drift_then_plateau_holds():
    p = plan(
        [
            {"name": "base", "duration": "10s", "rate": 10},
            {
                "name": "ramp",
                "duration": "10s",
                "rate": 10,
                "drift": [
                    {
                        "stream": STREAM,
                        "params": {"amount_distribution.log_normal_mean": 6.5, "fraud_injection_rate": 0.13},
                    }
                ],
            },
            {"name": "plateau", "duration": "10s", "rate": 10},
        ]
    )
    params, progress = p.params_at(STREAM, 5)
    assert progress == 0 and params.amount_distribution.log_normal_mean == 4.5
    params, progress = p.params_at(STREAM, 15)
    assert progress == pytest.approx(0.5)
    assert params.amount_distribution.log_normal_mean == pytest.approx(5.5)
    assert params.fraud_injection_rate == pytest.approx(0.08)
    params, progress = p.params_at(STREAM, 25)
    assert progress == 1 and params.amount_distribution.log_normal_mean == pytest.approx(6.5)


def test_non_persistent_drift_reverts_and_passes_restart():
    p = plan(
        [
            {
                "name": "a",
                "duration": "10s",
                "rate": 10,
                "drift": [
                    {
                        "stream": STREAM,
                        "params": {"failure_rate": 0.5},
                        "curve": {"curve": "step", "at": 0.5},
                        "persist": False,
                    }
                ],
            },
            {"name": "b", "duration": "10s", "rate": 10},
        ],
        repeat=2,
    )
    assert p.params_at(STREAM, 4)[0].failure_rate == pytest.approx(0.03)
    assert p.params_at(STREAM, 6)[0].failure_rate == pytest.approx(0.5)
    assert p.params_at(STREAM, 12)[0].failure_rate == pytest.approx(0.03)  # window over, not persisted
    assert p.params_at(STREAM, 26)[0].failure_rate == pytest.approx(0.5)  # second pass drifts again


def test_overlapping_drifts_compose_in_order():
    p = plan(
        [
            {
                "name": "a",
                "duration": "10s",
                "rate": 10,
                "drift": [
                    {"stream": STREAM, "params": {"travel_share": 0.5}},
                    {"stream": STREAM, "params": {"travel_share": 0.0}, "start": "5s"},
                ],
            }
        ]
    )
    # at 7.5 s: first drift at p=.75 -> 0.38; second at p=.5 moves that halfway to 0
    assert p.params_at(STREAM, 7.5)[0].travel_share == pytest.approx((0.03 + 0.75 * 0.47) / 2)


def test_injection_windows_boost_only_inside():
    p = plan(
        [
            {
                "name": "a",
                "duration": "60s",
                "rate": 10,
                "inject": [
                    {"stream": STREAM, "pattern": "structuring", "multiplier": 20, "start": "10s", "duration": "5s"}
                ],
            }
        ]
    )
    assert p.boosts_at(STREAM, 9.9) == {}
    assert p.boosts_at(STREAM, 12) == {"structuring": 20}
    assert p.boosts_at(STREAM, 15) == {}
