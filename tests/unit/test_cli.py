"""The command line: exit codes and one-line messages for bad input."""

from __future__ import annotations

import pytest

from producer.cli import main


def test_validate_good_bundled_scenario(capsys):
    assert main(["validate", "scenarios/steady_state.yaml"]) == 0
    assert "ok" in capsys.readouterr().out


def test_validate_broken_file_exits_2_naming_the_field(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: b\nstreams:\n  fintech.transactions:\n    params: {velocity_anomaly_rate: lots}\n"
        "phases: [{name: p, duration: 1m, rate: 10}]\n"
    )
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0  # one line
    assert f"{broken}: streams.fintech.transactions.params.velocity_anomaly_rate: expected" in err
    assert "'lots'" in err


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--duration", "soon"], "argument --duration: expected a duration"),
        (["--rate", "-3"], "argument --rate: expected a positive number"),
        (["--events", "0"], "argument --events: expected a positive integer"),
        (["--metrics-port", "70000"], "argument --metrics-port: expected a port"),
        (["--labels", "maybe"], "argument --labels: invalid choice"),
        (["-X", "novalue"], "argument -X: expected key=value"),
        (["--topic-prefix", "bad prefix!"], "argument --topic-prefix"),
    ],
)
def test_bad_flags_exit_2_with_one_message(flags, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "scenarios/steady_state.yaml", *flags])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and err.startswith("datagen: error:")


def test_stdout_sink_refuses_avro(capsys):
    assert main(["run", "steady_state", "--sink", "stdout", "--format", "avro", "--no-metrics"]) == 2
    assert "--format jsonl" in capsys.readouterr().err


def test_list_shows_every_domain_stream_event_type_and_scenario(capsys):
    from producer.domains import SPECS
    from producer.scenario.loader import BUNDLED_DIR

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, spec in SPECS.items():
        assert f"  {spec.domain}\n" in out and name in out and f"key={spec.key_field}" in out
        assert all(event_type in out for event_type in spec.event_types)
    for scenario in BUNDLED_DIR.glob("*.yaml"):
        assert scenario.stem in out


def test_stdout_sink_emits_json_lines(capsys):
    assert main(["run", "steady_state", "--sink", "stdout", "--events", "50", "--rate", "max", "--no-metrics"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 50 and lines[0].startswith('{"event_id":')
    assert "summary:" in captured.err
