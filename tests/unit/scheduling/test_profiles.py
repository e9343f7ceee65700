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
