import textwrap

import pytest

from producer.errors import ConfigError
from producer.scenario.loader import load_scenario

GOOD = """
name: t
seed: 3
streams:
  fintech.transactions:
    weight: 1
    params: {fraud_injection_rate: 0.05}
phases:
  - {name: warm, duration: 30s, rate: 100}
  - {name: ramp, duration: 1m, rate: {profile: ramp, from: 100, to: 1000}}
"""


def write(tmp_path, text):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path, text) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(write(tmp_path, text))
    return info.value


def test_loads_a_good_scenario(tmp_path):
    loaded = load_scenario(write(tmp_path, GOOD))
    assert loaded.scenario.seed == 3
    assert [p.duration for p in loaded.scenario.phases] == [30, 60]
    assert loaded.params["fintech.transactions"].fraud_injection_rate == 0.05


def test_bundled_scenarios_load_by_name():
    assert load_scenario("steady_state").scenario.name == "steady_state"


@pytest.mark.parametrize(
    ("mutation", "path", "expected_fragment"),
    [
        (("seed: 3", "seed: three"), "seed", "valid integer"),
        (("name: t", "name: t\ncolour: red"), "colour", "no unknown key"),
        (("duration: 30s", "duration: 30 parsecs"), "phases[0].duration", "duration like"),
        (("rate: 100}", "rate: -5}"), "phases[0].rate.value", "greater than 0"),
        (("from: 100", "form: 100"), "phases[1].rate.form", "no unknown key"),
        (("fintech.transactions:", "fintech.payments:"), "streams.fintech.payments", "a known stream"),
        (
            ("{fraud_injection_rate: 0.05}", "{fraud_injection_rate: 1.5}"),
            "streams.fintech.transactions.params.fraud_injection_rate",
            "less than or equal to 1",
        ),
        (
            ("{fraud_injection_rate: 0.05}", "{fraud_rate: 0.05}"),
            "streams.fintech.transactions.params.fraud_rate",
            "fraud_injection_rate",
        ),
        (("weight: 1", "weight: heavy"), "streams.fintech.transactions.weight", "valid number"),
    ],
)
def test_errors_name_file_path_expected_and_found(tmp_path, mutation, path, expected_fragment):
    old, new = mutation
    error = error_for(tmp_path, GOOD.replace(old, new))
    assert error.path == path
    assert expected_fragment in error.expected
    message = str(error)
    assert message.startswith(str(tmp_path / "s.yaml") + ": " + path + ": expected ")
    assert "found" in message


def test_missing_phases_and_bad_yaml(tmp_path):
    assert error_for(tmp_path, "name: t\nstreams: {fintech.transactions: {}}\n").path == "phases"
    bad = error_for(tmp_path, "name: [unclosed\n")
    assert bad.expected == "valid YAML" and bad.path == "line 2, column 1"
    assert error_for(tmp_path, "- a list\n").expected == "a mapping at the top level"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")


DRIFT = (
    GOOD
    + """
  - name: drift
    duration: 1m
    rate: 100
    drift:
      - stream: fintech.transactions
        params: {amount_distribution.log_normal_mean: 6.0}
        curve: {curve: sigmoid, position: 0.5, width: 0.1}
    inject:
      - {stream: fintech.transactions, pattern: velocity_spike, multiplier: 5, start: 10s, duration: 20s}
"""
)


def test_drift_and_inject_blocks_load(tmp_path):
    phase = load_scenario(write(tmp_path, DRIFT)).scenario.phases[2]
    assert phase.drift[0].curve.curve == "sigmoid" and phase.inject[0].multiplier == 5


@pytest.mark.parametrize(
    ("mutation", "path", "expected_fragment"),
    [
        (
            ("amount_distribution.log_normal_mean: 6.0", "amount_distribution.log_normal_std: -1"),
            "phases[2].drift[0].params.amount_distribution.log_normal_std",
            "greater than",
        ),
        (
            ("amount_distribution.log_normal_mean: 6.0", "num_users: 9"),
            "phases[2].drift[0].params.num_users",
            "a driftable parameter",
        ),
        (
            ("amount_distribution.log_normal_mean: 6.0", "no_such: 1"),
            "phases[2].drift[0].params.no_such",
            "a parameter of",
        ),
        (("fraud_injection_rate: 0.05}\nphases", "fraud_injection_rate: 0.05}\nphases"), None, None),
        (
            ("pattern: velocity_spike", "pattern: jaywalking"),
            "phases[2].inject[0].pattern",
            "a pattern of fintech.transactions",
        ),
        (("start: 10s, duration", "start: 2m, duration"), "phases[2].inject[0].start", "an offset inside the phase"),
        (("duration: 20s}", "duration: 55s}"), "phases[2].inject[0].duration", "a window that ends inside the phase"),
        (("curve: {curve: sigmoid", "curve: {curve: wiggle"), "phases[2].drift[0].curve", "curve"),
        (
            ("- stream: fintech.transactions\n        params", "- stream: telco.accounts\n        params"),
            "phases[2].drift[0].stream",
            "a stream of this scenario",
        ),
    ],
)
def test_drift_and_inject_errors(tmp_path, mutation, path, expected_fragment):
    old, new = mutation
    text = DRIFT.replace(old, new)
    if path is None:
        load_scenario(write(tmp_path, text))
        return
    error = error_for(tmp_path, text)
    assert error.path.startswith(path), error
    assert expected_fragment in error.expected, error


def test_event_duration_uses_clock_speed(tmp_path):
    text = GOOD.replace("name: t\n", "name: t\nclock: {speed: 86400}\n").replace("duration: 30s", "event_duration: 2d")
    loaded = load_scenario(write(tmp_path, text))
    assert loaded.scenario.phase_seconds(loaded.scenario.phases[0]) == pytest.approx(2.0)
    both = GOOD.replace("duration: 30s", "duration: 30s, event_duration: 1d")
    assert "exactly one of duration or event_duration" in error_for(tmp_path, both).expected
