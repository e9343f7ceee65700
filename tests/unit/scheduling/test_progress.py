import pytest
from pydantic import TypeAdapter, ValidationError

from producer.scheduling.progress import Curve, coerce_curve

adapter = TypeAdapter(Curve)


def curve(value):
    return adapter.validate_python(coerce_curve(value))


def test_linear():
    c = curve("linear")
    assert [c.progress_at(t, 10) for t in (-1, 0, 2.5, 10, 99)] == [0, 0, 0.25, 1, 1]


def test_sigmoid_runs_exactly_from_0_to_1_centred_on_position():
    c = curve({"curve": "sigmoid", "position": 0.3, "width": 0.05})
    assert c.progress_at(0, 100) == pytest.approx(0, abs=1e-12)
    assert c.progress_at(100, 100) == pytest.approx(1, abs=1e-12)
    assert c.progress_at(30, 100) == pytest.approx(0.5, abs=0.01)
    assert c.progress_at(15, 100) < 0.05 and c.progress_at(45, 100) > 0.95
    values = [c.progress_at(t, 100) for t in range(101)]
    assert values == sorted(values)


def test_step_is_abrupt():
    c = curve({"curve": "step", "at": 0.5})
    assert c.progress_at(49.9, 100) == 0 and c.progress_at(50, 100) == 1


@pytest.mark.parametrize("shape", ["sine", "triangle", "square"])
def test_recurring_goes_back_and_forth(shape):
    c = curve({"curve": "recurring", "period": "10s", "shape": shape})
    assert c.progress_at(0, 100) == 0
    assert c.progress_at(5, 100) == 1
    assert c.progress_at(10, 100) == 0
    assert c.progress_at(12.5, 100) == pytest.approx(c.progress_at(2.5, 100))


@pytest.mark.parametrize(
    "bad",
    [
        "wobble",
        {"curve": "sigmoid", "width": 0},
        {"curve": "step", "at": 2},
        {"curve": "recurring"},
        {"curve": "linear", "speed": 2},
    ],
)
def test_rejects_bad_curves(bad):
    with pytest.raises(ValidationError):
        curve(bad)
