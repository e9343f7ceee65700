"""Bounds that keep runs finite and sources that never spin: tiny phases, tiny weights, the end of time."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from producer.scenario.loader import load_scenario
from producer.scenario.model import Clock, Scenario, StreamConfig
from producer.scheduling.loop import MAX_BATCH, Pacer
from producer.scheduling.sources import BLOCK_ARRIVALS, EventSource, stream_shares
from producer.scheduling.timeline import Timeline
from tests.helpers import two_stream_scenario


def write(tmp_path: Path, **knobs: str) -> Path:
    """A two-stream scenario file with one knob turned."""
    path = tmp_path / "s.yaml"
    path.write_text(two_stream_scenario(**knobs))
    return path


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """work()'s result, or a failure (not a hang) when it takes longer than `seconds`."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"still working after {seconds}s"
    return box[0]


def take_total(source: EventSource, n: int, calls: int = 200) -> list:
    """Up to n events over repeated take() calls, as the scheduler's ticks would ask for them."""
    out: list = []
    for _ in range(calls):
        out += source.take(n - len(out))
        if len(out) >= n or source.ended:
            break
    return out


@pytest.mark.parametrize("weight", [float("inf"), float("nan"), -1.0])
def test_weight_must_be_finite_and_not_negative(weight: float) -> None:
    with pytest.raises(ValidationError, match="a finite weight >= 0"):
        StreamConfig(weight=weight)
    assert StreamConfig(weight=5e-324).weight == 5e-324  # tiny is fine: such a stream emits (almost) nothing


@pytest.mark.parametrize("speed", [1e300, float("inf"), float("nan"), 0.0, -1.0, 1e6 * 1.01, 5e-324, 1e-9])
def test_clock_speed_is_bounded(speed: float) -> None:
    # 5e-324 ran out of memory once rates were paced over event-time windows (a fuzzed file found it)
    with pytest.raises(ValidationError, match="a speed from 1e-06 to 1e"):
        Clock(speed=speed)


@pytest.mark.parametrize("start", ["9999-12-31T23:00:00Z", "9000-01-01T00:00:01Z", "1969-12-31T23:59Z", "0001-01-01"])
def test_clock_start_keeps_event_time_representable(start: str) -> None:
    with pytest.raises(ValidationError, match="1970-01-01 to 9000-01-01"):
        Clock(start=start)
    assert Clock(start="9000-01-01T00:00:00Z").start_us > Clock(start="1970-01-01T00:00:00Z").start_us == 0


@pytest.mark.parametrize("phase", [{"duration": "0.5ms"}, {"duration": 1e11}, {"event_duration": "1s"}])
def test_phase_lengths_are_bounded(phase: dict) -> None:
    data = {
        "name": "s",
        "clock": {"speed": 86400},
        "streams": {"fintech.transactions": {}},
        "phases": [{"name": "p", "rate": 10, **phase}],
    }
    with pytest.raises(ValidationError, match="a phase of 1ms to 1e10 s"):
        Scenario.model_validate(data)


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), 1e10, {"profile": "ramp", "from": 0, "to": 1e300}])
def test_rates_are_finite(rate: object) -> None:
    phase = {"name": "p", "rate": rate, "duration": 1}
    data = {"name": "s", "streams": {"fintech.transactions": {}}, "phases": [phase]}
    with pytest.raises(ValidationError):
        Scenario.model_validate(data)


def test_shares_survive_weights_whose_sum_overflows() -> None:
    assert stream_shares([1e308, 1e308]) == [0.5, 0.5]
    assert stream_shares([0.22, 0.16]) == [0.22 / 0.38, 0.16 / 0.38]  # the usual path is untouched


def test_an_instant_at_a_millisecond_phase_end_belongs_to_the_next_phase(tmp_path: Path) -> None:
    timeline = Timeline(load_scenario(write(tmp_path, duration="1ms")).scenario)
    for k in range(1, 2000):
        tau = k * 0.001
        assert timeline.at(tau).phase_end > tau, tau  # 0.003 // 0.001 == 2.0: it used to end where it stood


def test_last_phase_of_a_finite_scenario_still_ends_there(tmp_path: Path) -> None:
    timeline = Timeline(load_scenario(write(tmp_path, duration="1ms", repeat="3")).scenario)
    assert timeline.at(0.003).cycle == 2 and timeline.ended(0.003)


@pytest.fixture(scope="module")
def ten_second_phase_tau(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Scenario seconds the 3,000th event lies at with ten-second phases: the reference for short phases."""
    long = EventSource(load_scenario(write(tmp_path_factory.mktemp("ten-second-phase"), duration="10s")))
    return long.tau_of(take_total(long, 3000)[-1])


@pytest.mark.parametrize("duration", ["1ms", "10ms"])
def test_millisecond_phases_advance_scenario_time(tmp_path: Path, duration: str, ten_second_phase_tau: float) -> None:
    source = EventSource(load_scenario(write(tmp_path, duration=duration)))
    events = within(30, lambda: take_total(source, 3000))
    assert len(events) == 3000
    # as many events per scenario-second as with a phase of ten seconds (25% tolerance, seed 3)
    assert abs(source.tau_of(events[-1]) / ten_second_phase_tau - 1) < 0.25


@pytest.mark.parametrize("weight", ["1e-12", "5e-324"])
def test_a_tiny_weight_neither_spins_nor_holds_the_other_streams_back(tmp_path: Path, weight: str) -> None:
    source = EventSource(load_scenario(write(tmp_path, weight=weight)))
    events = within(30, lambda: take_total(source, 2000))
    assert len(events) == 2000 and {e.stream for e in events} == {"fintech.sessions"}


def test_take_returns_after_bounded_work_when_nothing_is_due(tmp_path: Path) -> None:
    # a ramp, so each 1 ms phase end cuts the blocks (a constant rate would let them run across)
    ramp = "{profile: ramp, from: 1.0e-9, to: 2.0e-9}"
    source = EventSource(load_scenario(write(tmp_path, duration="1ms", rate=ramp)))
    assert within(30, lambda: source.take(10)) == []
    assert not source.ended  # an idle pause, not the end: the scheduler's loop looks at its stop flag and asks again


def test_event_time_stops_short_of_the_end_of_representable_time(tmp_path: Path) -> None:
    path = write(tmp_path, start="9000-01-01T00:00:00Z", speed="1000000", rate="0.01", duration="1e10", repeat="1")
    source = EventSource(load_scenario(path))
    events = within(60, lambda: [e for _ in range(50) for e in source.take(MAX_BATCH)])
    assert source.ended and source.end_reason == "event-time-limit"
    assert events and max(e.time_us for e in events) < source.sources[0].limit_tau * source.us_per_tau + source.start_us


# replay's first block holds whole lifecycles of its 1,024 entity starts (~330k events, ~12 s per source
# over 16 partitions); 64 starts a block take ~2 s and put more block ends inside the 15,000 events compared
@pytest.mark.parametrize(
    ("name", "block_arrivals"),
    [
        ("steady_state", BLOCK_ARRIVALS),
        ("fraud_burst", BLOCK_ARRIVALS),
        pytest.param("lifecycle_replay", 64, marks=pytest.mark.slow),  # ~4 s even so
    ],
)
def test_merge_is_exactly_heapq_merge_of_the_partitions(
    name: str, block_arrivals: int, request: pytest.FixtureRequest
) -> None:
    loaded = load_scenario(name)
    if name == "steady_state":  # the session's shared sample (tests/unit/conftest.py): the same events, drawn once
        drawn = request.getfixturevalue("steady_state_sample").events[:15_000]
    else:
        drawn = list(islice(EventSource(loaded, block_arrivals), 15_000))
    ours = [(e.stream, e.time_us, e.value["event_id"]) for e in drawn]
    reference = EventSource(loaded, block_arrivals)
    assert loaded.scenario.disorder is None  # disorder acts per partition (tests/unit/scheduling/test_disorder.py)
    merged = heapq.merge(*(s.events() for s in reference.sources), key=attrgetter("time_us"))
    assert ours == [(e.stream, e.time_us, e.value["event_id"]) for e in islice(merged, 15_000)]


def test_pacer_never_asks_for_more_than_a_max_batch() -> None:
    assert Pacer(tick=0.02).batch(1e9) == MAX_BATCH  # a take of 20 million events would not see a stop for minutes


def test_blocks_run_across_phase_ends_only_where_nothing_changes(tmp_path: Path) -> None:
    constant = Timeline(load_scenario(write(tmp_path, duration="10ms", repeat="5")).scenario)
    assert constant.block_end(0.012) == pytest.approx(0.05)  # one phase, constant rate: the scenario's end
    ramp = "{profile: ramp, from: 1000, to: 2000}"
    ramped = Timeline(load_scenario(write(tmp_path, duration="10ms", rate=ramp, repeat="5")).scenario)
    assert ramped.block_end(0.012) == pytest.approx(0.02)  # the rate changes at each phase end
