import pytest

from producer.scenario.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("250ms", 0.25), (15, 15), ("2.5", 2.5)],
)
def test_parses_human_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "5x", "", "-5s", "0", 0, "1h-3m", None, True, [1]])
def test_rejects_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_round_trips():
    for seconds in (0.25, 45, 5400, 90061):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [10**400, "1e999", "nan", float("nan"), float("inf"), "9" * 400 + "d"])
def test_numbers_no_float_can_hold_are_value_errors(value):
    with pytest.raises(ValueError, match="positive, finite duration"):
        parse_duration(value)
