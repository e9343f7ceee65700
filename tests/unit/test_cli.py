"""The command line: exit codes and one-line messages for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fastavro
import pytest

from producer.cli import main
from producer.domains import SPECS


def test_validate_good_bundled_scenario(capsys):
    assert main(["validate", "scenarios/steady_state.yaml"]) == 0
    assert "ok" in capsys.readouterr().out


def test_validate_broken_file_exits_2_naming_the_field(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: b\nstreams:\n  fintech.transactions:\n    params: {velocity_spike_share: lots}\n"
        "phases: [{name: p, duration: 1m, rate: 10}]\n"
    )
    assert main(["validate", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0  # one line
    assert f"{broken}: streams.fintech.transactions.params.velocity_spike_share: expected" in err
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
        (["--transactional-id", "two words"], "argument --transactional-id: expected a transactional id"),
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


def test_list_shows_each_streams_driftable_parameters_and_patterns(capsys):
    from producer.domains import STREAMS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, generator in STREAMS.items():
        block = re.split(r"\n {0,4}\S", out.split(f"    {name}  key=", 1)[1], maxsplit=1)[0]  # its lines only
        assert f"      driftable: {', '.join(generator.driftable) or '(none)'}\n" in block, name
        assert f"      anomaly patterns: {', '.join(generator.patterns) or '(none)'}" in block, name


def test_stdout_sink_emits_json_lines(capsys):
    assert main(["run", "steady_state", "--sink", "stdout", "--events", "50", "--rate", "max", "--no-metrics"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 50 and lines[0].startswith('{"event_id":')
    assert "summary:" in captured.err


# --- environment variables: read with the flag's converter, named in the error, only where used ---

QUICK_RUN = ["run", "steady_state", "--sink", "stdout", "--events", "3", "--rate", "max", "--no-metrics"]


def _one_error_line(err: str) -> str:
    assert err.startswith("datagen: error: ") and err.count("\n") == 1, err  # one line, never a traceback
    return err.strip()


@pytest.mark.parametrize("level", ["debug", "Info", "WARN", "warning", "ERROR"])
def test_log_level_variable_and_flag_any_case(level, monkeypatch, capsys):
    monkeypatch.setenv("DATAGEN_LOG_LEVEL", level)
    assert main(["list"]) == 0
    monkeypatch.delenv("DATAGEN_LOG_LEVEL")
    assert main(["--log-level", level, "list"]) == 0
    assert main(["list", "--log-level", level]) == 0


@pytest.mark.parametrize(
    ("variable", "value", "argv", "expected"),
    [
        ("DATAGEN_LOG_LEVEL", "loud", ["list"], "DATAGEN_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR"),
        (
            "DATAGEN_METRICS_PORT",
            "abc",
            QUICK_RUN[:-1],
            "DATAGEN_METRICS_PORT: expected a port number 0-65535, found 'abc'",
        ),
        ("DATAGEN_TOPIC_PREFIX", "bad prefix!", QUICK_RUN, "DATAGEN_TOPIC_PREFIX: expected letters, digits"),
        ("DATAGEN_SHARD", "3/2", QUICK_RUN, "DATAGEN_SHARD: expected i/n with 0 <= i < n"),
        ("SCHEMA_REGISTRY_URL", "registry:8081", QUICK_RUN, "SCHEMA_REGISTRY_URL: expected an http:// or https:// URL"),
        ("KAFKA_BOOTSTRAP_SERVERS", ",", ["tail", "topic"], "KAFKA_BOOTSTRAP_SERVERS: expected HOST:PORT"),
    ],
)
def test_bad_variable_exits_2_naming_it_and_nothing_runs(variable, value, argv, expected, monkeypatch, capsys):
    monkeypatch.setenv(variable, value)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert expected in _one_error_line(captured.err)
    assert captured.out == ""  # no event, no banner


@pytest.mark.parametrize("url", ["http://user:SECRET@", "http://user:SECRET@registry:99999", "user:SECRET@registry"])
def test_bad_registry_url_is_refused_without_echoing_credentials(url, monkeypatch, capsys):
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", url)
    assert main(QUICK_RUN) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert err.startswith("datagen: error: SCHEMA_REGISTRY_URL: expected an http:// or https:// URL, found ")
    assert "SECRET" not in err


def test_variable_is_checked_only_by_the_subcommands_that_read_it(monkeypatch, capsys):
    monkeypatch.setenv("DATAGEN_METRICS_PORT", "abc")
    monkeypatch.setenv("DATAGEN_SHARD", "x")
    assert main(["list"]) == 0
    assert main(["validate", "steady_state"]) == 0


def test_flag_overrides_its_variable_and_empty_means_unset(monkeypatch, capsys):
    monkeypatch.setenv("DATAGEN_TOPIC_PREFIX", "bad prefix!")
    monkeypatch.setenv("DATAGEN_METRICS_PORT", "")  # compose's `VAR=` means "not set"
    assert main([*QUICK_RUN, "--topic-prefix", "ok."]) == 0
    assert '"topic"' not in capsys.readouterr().err


def test_bad_log_level_flag_names_the_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--log-level", "loud", "list"])
    assert info.value.code == 2
    assert "argument --log-level: expected one of DEBUG, INFO, WARNING, ERROR (any case), found 'loud'" in (
        _one_error_line(capsys.readouterr().err)
    )


def test_unusable_state_dir_is_named(tmp_path, monkeypatch, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("DATAGEN_STATE_DIR", str(not_a_folder))
    assert main(["embedded", "start"]) == 2
    assert "DATAGEN_STATE_DIR: expected a folder" in _one_error_line(capsys.readouterr().err)


def test_missing_schemas_dir_is_named_when_avro_needs_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATAGEN_SCHEMAS_DIR", str(tmp_path / "missing"))
    assert main(["run", "steady_state", "--sink", "file", "--out", str(tmp_path), "--events", "3", "--no-metrics"]) == 2
    assert "DATAGEN_SCHEMAS_DIR: expected a folder of Avro schemas" in _one_error_line(capsys.readouterr().err)
    assert main([*QUICK_RUN]) == 0  # JSON lines need no schemas


# --- -X: checked before anything starts, secret values never echoed ---

OFFLINE_KAFKA = ["run", "steady_state", "--bootstrap-servers", "127.0.0.1:1", "--no-metrics", "--events", "1"]


def test_x_with_a_colon_never_echoes_the_secret(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "steady_state", "-X", "sasl.password:SECRET"])
    assert info.value.code == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "-X: expected key=value, found 'sasl.password:***'" in err and "SECRET" not in err


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ("foo.bar=1", 'No such configuration property: "foo.bar"'),
        ("schema.registry.foo=1", "Unrecognized properties: foo"),
        ("sasl.oauthbearer.method=SECRETVALUE", 'Invalid value "***"'),
        ("error_cb=x", "error_cb property as a callable"),  # refused by confluent-kafka's Python layer
        ("schema.registry.ssl.ca.location=/nonexistent/ca.pem", "No such file"),
        ("transactional.id=t1", "-X transactional.id: expected --transactional-id t1"),
    ],
)
def test_bad_x_is_rejected_before_connecting(conf, expected, capsys):
    assert main([*OFFLINE_KAFKA, "-X", conf]) == 2
    captured = capsys.readouterr()
    err = _one_error_line(captured.err)
    assert expected in err and "SECRETVALUE" not in err
    assert "kafka:" not in captured.out  # the sink was never set up


@pytest.mark.parametrize("stream", [*sorted(SPECS), "ground-truth"])
def test_schema_prints_the_registered_schema_of_every_stream(stream, capsys):
    """`datagen schema` gives external tools the composed schema, exactly the text registered for the topic."""
    registered = json.loads((Path(__file__).parents[1] / "fixtures" / "registered_schemas.json").read_text())
    file = "common/ground_truth.avsc" if stream == "ground-truth" else SPECS[stream].schema
    assert main(["schema", stream]) == 0
    out = capsys.readouterr().out
    assert out == registered[file] + "\n"
    fastavro.parse_schema(json.loads(out))  # a complete schema on its own


def test_schema_of_an_unknown_stream_is_one_line_and_exit_2(capsys):
    assert main(["schema", "fintech.nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown stream 'fintech.nope'" in err[0] and "fintech.transactions" in err[0]


def test_transactional_id_needs_the_kafka_sink(capsys):
    argv = ["run", "steady_state", "--sink", "file", "--out", "/tmp/unused", "--no-metrics", "--transactional-id", "t"]
    assert main(argv) == 2
    assert _one_error_line(capsys.readouterr().err).endswith(
        "--transactional-id: expected --sink kafka, found --sink file"
    )
