import pytest
from pydantic import TypeAdapter, ValidationError

from producer.scheduling.profiles import ConstantRate, MaxRate, RampRate, RateProfile, coerce_rate

adapter = TypeAdapter(RateProfile)


def profile(value):
    return adapter.validate_python(coerce_rate(value))


def test_constant_shorthand_and_value():
    p = profile(2000)
    assert isinstance(p, ConstantRate)
    assert p.rate_at(0, 10) == p.rate_at(9.9, 10) == 2000


def test_ramp_is_linear_and_clamped():
    p = profile({"profile": "ramp", "from": 100, "to": 1100})
    assert isinstance(p, RampRate)
    assert p.rate_at(0, 10) == 100
    assert p.rate_at(5, 10) == pytest.approx(600)
    assert p.rate_at(10, 10) == 1100
    assert p.rate_at(20, 10) == 1100  # clamped after the phase
    assert p.rate_at(-1, 10) == 100


def test_max_has_nominal_event_time_rate():
    p = profile("max")
    assert isinstance(p, MaxRate) and p.is_max
    assert p.rate_at(3, 10) == 1000
    assert profile({"profile": "max", "nominal": 50}).rate_at(0, 1) == 50


@pytest.mark.parametrize("bad", [0, -5, "fast", {"profile": "ramp", "from": 0, "to": 0}, {"profile": "zigzag"}])
def test_rejects_bad_profiles(bad):
    with pytest.raises(ValidationError):
        profile(bad)


def test_step_profile_holds_each_step():
    p = profile(
        {"profile": "step", "steps": [{"at": 0, "rate": 100}, {"at": "30s", "rate": 500}, {"at": "1m", "rate": 50}]}
    )
    assert [p.rate_at(t, 120) for t in (0, 29.9, 30, 59, 60, 119)] == [100, 100, 500, 500, 50, 50]


def test_sine_profile():
    p = profile({"profile": "sine", "mean": 1000, "amplitude": 400, "period": "1m"})
    assert p.rate_at(0, 600) == pytest.approx(1000)
    assert p.rate_at(15, 600) == pytest.approx(1400)
    assert p.rate_at(45, 600) == pytest.approx(600)


def test_diurnal_follows_event_time_hour():
    p = profile({"profile": "diurnal", "peak": 2000, "trough": 200, "peak_hour": 14})
    assert p.rate_at(0, 1, hour=14) == pytest.approx(2000)
    assert p.rate_at(0, 1, hour=2) == pytest.approx(200)
    assert 200 < p.rate_at(0, 1, hour=8) < 2000


def test_burst_profile_windows():
    p = profile({"profile": "burst", "base": 100, "peak": 5000, "every": "1m", "length": "5s", "offset": "10s"})
    assert p.rate_at(5, 600) == 100
    assert p.rate_at(10, 600) == 5000 and p.rate_at(14.9, 600) == 5000
    assert p.rate_at(15, 600) == 100 and p.rate_at(71, 600) == 5000


@pytest.mark.parametrize(
    "bad",
    [
        {"profile": "step", "steps": [{"at": "5s", "rate": 1}]},
        {"profile": "sine", "mean": 10, "amplitude": 20, "period": "1m"},
        {"profile": "burst", "base": 1, "peak": 2, "every": "5s", "length": "10s"},
        {"profile": "diurnal", "peak": 10, "trough": 20},
    ],
)
def test_rejects_inconsistent_profiles(bad):
    with pytest.raises(ValidationError):
        profile(bad)
