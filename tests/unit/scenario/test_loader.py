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
        (("{fraud_injection_rate: 0.05}", "{fraud_injection_rate: 1.5}"), "streams.fintech.transactions.params.fraud_injection_rate", "less than or equal to 1"),
        (("{fraud_injection_rate: 0.05}", "{fraud_rate: 0.05}"), "streams.fintech.transactions.params.fraud_rate", "fraud_injection_rate"),
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
    assert bad.expected == "valid YAML" and "line" in str(bad.found)
    assert error_for(tmp_path, "- a list\n").expected == "a mapping at the top level"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
