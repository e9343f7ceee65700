import math

import pytest

from producer.scenario.model import Scenario
from producer.scheduling.timeline import Timeline


def scenario(repeat=1):
    return Scenario.model_validate(
        {
            "name": "t",
            "streams": {"fintech.transactions": {}},
            "phases": [{"name": "a", "duration": "10s", "rate": 10}, {"name": "b", "duration": "20s", "rate": 20}],
            "repeat": repeat,
        }
    )


def test_resolves_phase_and_offset():
    timeline = Timeline(scenario())
    point = timeline.at(12.5)
    assert point.phase.name == "b" and point.index == 1
    assert point.t == pytest.approx(2.5)
    assert point.phase_end == pytest.approx(30)
    assert timeline.at(0).phase.name == "a"


def test_repeats_and_ends():
    timeline = Timeline(scenario(repeat=2))
    assert timeline.total == 60
    point = timeline.at(35)
    assert (point.phase.name, point.cycle, point.phase_end) == ("a", 1, 40)
    assert not timeline.ended(59.9) and timeline.ended(60)


def test_forever_never_ends():
    timeline = Timeline(scenario(repeat="forever"))
    assert timeline.total == math.inf
    assert timeline.at(10_000 * 30 + 5).phase.name == "a"
    assert not timeline.ended(1e12)
