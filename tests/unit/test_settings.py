"""Every `datagen run` setting from flag, DATAGEN_* variable or config file: precedence, errors, completion."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer.cli import build_parser, main, run_settings
from producer.client_conf import check_client_conf, kafka_part, registry_part
from producer.settings import Env, property_name, resolve_settings
from producer.sinks.kafka import KafkaSink

ROOT = Path(__file__).parents[2]
SECRET = "SECRETpw42"


def _resolved(argv: list[str], environ: dict[str, str], cwd: Path) -> argparse.Namespace:
    """Parse `argv` and resolve the flags not given from `environ` and the config file in `cwd`."""
    args = build_parser().parse_args(argv)
    resolve_settings(args, environ, cwd)
    return args


def _one_error_line(err: str) -> str:
    assert err.startswith("datagen: error: ") and err.count("\n") == 1, err  # one line, never a traceback
    return err.strip()


# --- precedence: flag > variable > file > default ------------------------------------------------

# (dest, flag argv, variables, file line, default, file value, variable value, flag value)
LAYERS = [
    ("rate", ["--rate", "300"], {"DATAGEN_RATE": "200"}, "rate = 100", None, 100.0, 200.0, 300.0),
    (
        "metrics_port",
        ["--metrics-port", "9403"],
        {"DATAGEN_METRICS_PORT": "9402"},
        "metrics-port = 9401",
        9400,
        9401,
        9402,
        9403,
    ),
    (
        "topic_prefix",
        ["--topic-prefix", "x."],
        {"DATAGEN_TOPIC_PREFIX": "e."},
        'topic-prefix = "f."',
        "",
        "f.",
        "e.",
        "x.",
    ),
    # a false variable beats a true file value; the flag can only say true
    ("no_metrics", ["--no-metrics"], {"DATAGEN_NO_METRICS": "false"}, "no-metrics = true", False, True, False, True),
    ("duration", ["--duration", "3s"], {"DATAGEN_DURATION": "2m"}, "duration = 60", None, 60.0, 120.0, 3.0),
    ("sink", ["--sink", "stdout"], {"DATAGEN_SINK": "file"}, 'sink = "stdout"', "kafka", "stdout", "file", "stdout"),
    # the legacy variable still works, DATAGEN_* wins over it
    (
        "bootstrap_servers",
        ["-b", "flag:1"],
        {"KAFKA_BOOTSTRAP_SERVERS": "legacy:1", "DATAGEN_BOOTSTRAP_SERVERS": "variable:1"},
        'bootstrap-servers = "file:1"',
        None,
        "file:1",
        "variable:1",
        "flag:1",
    ),
]


@pytest.mark.parametrize(("dest", "flag", "variables", "line", *"dfvx"), LAYERS, ids=[row[0] for row in LAYERS])
def test_each_layer_overrides_the_ones_below(dest, flag, variables, line, d, f, v, x, tmp_path):
    argv = ["run", "steady_state"]
    assert getattr(_resolved(argv, {}, tmp_path), dest) == d
    (tmp_path / "datagen.toml").write_text(f"[run]\n{line}\n")
    assert getattr(_resolved(argv, {}, tmp_path), dest) == f
    assert getattr(_resolved(argv, variables, tmp_path), dest) == v
    assert getattr(_resolved([*argv, *flag], variables, tmp_path), dest) == x


def test_legacy_variable_is_read_when_the_datagen_one_is_unset(tmp_path):
    args = _resolved(
        ["run", "x"], {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "SCHEMA_REGISTRY_URL": "http://r:8081"}, tmp_path
    )
    assert (args.bootstrap_servers, args.schema_registry_url) == ("k:9092", "http://r:8081")


def test_scenario_and_log_level_come_from_the_file_too(tmp_path):
    (tmp_path / "datagen.toml").write_text('[run]\nscenario = "drift_ramp"\nlog-level = "debug"\n')
    args = _resolved(["run"], {}, tmp_path)
    assert (args.scenario, args.log_level) == ("drift_ramp", "DEBUG")
    assert _resolved(["run", "steady_state"], {"DATAGEN_SCENARIO": "x"}, tmp_path).scenario == "steady_state"


def test_kafka_properties_x_over_variables_over_file(tmp_path):
    (tmp_path / "datagen.toml").write_text('[kafka]\nlinger.ms = 5\n"client.id" = "file"\n[registry]\ntimeout = 7\n')
    variables = {"DATAGEN_KAFKA_LINGER_MS": "6"}
    conf = dict(_resolved(["run", "x"], {}, tmp_path).kafka_conf)
    assert conf == {"linger.ms": "5", "client.id": "file", "schema.registry.timeout": "7"}
    assert dict(_resolved(["run", "x"], variables, tmp_path).kafka_conf)["linger.ms"] == "6"
    args = _resolved(["run", "x", "-X", "linger.ms=7"], variables, tmp_path)
    assert dict(args.kafka_conf)["linger.ms"] == "7"
    # where each property not given by -X came from, for error messages
    assert args.kafka_sources == {
        "client.id": "datagen.toml: kafka.client.id",
        "schema.registry.timeout": ("datagen.toml: registry.timeout"),
    }


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("DATAGEN_KAFKA_SASL_PASSWORD", "sasl.password"),
        ("DATAGEN_KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "schema.registry.basic.auth.user.info"),
        ("DATAGEN_KAFKA_SSL__ENGINE__ID", "ssl_engine_id"),  # `__` spells an underscore
        ("DATAGEN_KAFKA_A___B", "a-b"),  # `___` spells a hyphen
    ],
)
def test_variable_names_spell_properties(variable, expected):
    assert property_name(variable) == expected


def test_kafka_variables_reach_the_producer_and_registry_config(tmp_path):
    environ = {
        "DATAGEN_KAFKA_SASL_PASSWORD": SECRET,
        "DATAGEN_KAFKA_SASL_USERNAME": "alice",
        "DATAGEN_KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": f"alice:{SECRET}",
        "DATAGEN_KAFKA_CACHE": "/tmp/jars",  # the test scripts' jar cache: not a property
    }
    argv = ["run", "steady_state", "-b", "127.0.0.1:1"]
    settings = run_settings(_resolved(argv, environ, tmp_path))
    # the sink the run builds (producer/app.py: KafkaSink(stats, bootstrap, kafka_part(s.kafka_conf), ...))
    conf = KafkaSink(None, "127.0.0.1:1", kafka_part(settings.kafka_conf)).producer_conf()  # type: ignore[arg-type]
    assert conf["sasl.password"] == SECRET and conf["sasl.username"] == "alice"
    assert "cache" not in conf
    assert registry_part(settings.kafka_conf) == {"basic.auth.user.info": f"alice:{SECRET}"}


def test_resolving_twice_changes_nothing(tmp_path):
    """A --workers worker gets its parent's resolved flags: its own environment is not read again."""
    args = _resolved(["run", "x"], {"DATAGEN_RATE": "5", "DATAGEN_KAFKA_LINGER_MS": "6"}, tmp_path)
    resolve_settings(args, {"DATAGEN_RATE": "abc", "DATAGEN_KAFKA_LINGER_MS": "9"}, tmp_path)
    assert args.rate == 5.0 and dict(args.kafka_conf) == {"linger.ms": "6"}


# --- invalid values: one line naming the source, exit 2 -------------------------------------------

QUICK = ["run", "steady_state", "--sink", "stdout", "--events", "3", "--rate", "max", "--no-metrics"]


@pytest.mark.parametrize(
    ("argv", "variables", "toml", "expected"),
    [
        (["run", "steady_state"], {"DATAGEN_RATE": "abc"}, "", "DATAGEN_RATE: expected a positive number of events"),
        (["run", "steady_state"], {}, '[run]\nrate = "abc"', "datagen.toml: run.rate: expected a positive number"),
        (["run", "steady_state"], {}, "[run]\nevents = -3", "datagen.toml: run.events: expected a positive integer"),
        (["run", "steady_state"], {}, '[run]\nsink = "kafak"', "datagen.toml: run.sink: expected one of kafka, file"),
        (["run", "steady_state"], {"DATAGEN_SINK": "kafak"}, "", "DATAGEN_SINK: expected one of kafka, file, stdout"),
        (["run", "steady_state"], {}, '[run]\nno-metrics = "yes"', "datagen.toml: run.no-metrics: expected true or"),
        (["run", "steady_state"], {"DATAGEN_NO_METRICS": "maybe"}, "", "DATAGEN_NO_METRICS: expected true or false"),
        (["run", "steady_state"], {}, "[run]\nrate = [1]", "datagen.toml: run.rate: expected a positive number"),
        (["run"], {}, "", "run: expected a SCENARIO"),
        # unknown keys, named
        (["run", "steady_state"], {}, "[run]\nratee = 1", "datagen.toml: run.ratee: expected one of bootstrap-servers"),
        (["run", "steady_state"], {}, "[kafak]\nacks = 1", "datagen.toml: kafak: expected one of the tables [run]"),
        (["run", "steady_state"], {}, "rate = 1", "datagen.toml: rate: expected one of the tables [run]"),
        (["run", "steady_state"], {}, "[run\n", "datagen.toml: expected TOML, found"),
        # librdkafka and registry settings, named by where they came from
        (
            ["run", "steady_state"],
            {"DATAGEN_KAFKA_FOO_BAR": "1"},
            "",
            "DATAGEN_KAFKA_FOO_BAR: expected valid librdkafka",
        ),
        (
            ["run", "steady_state"],
            {},
            '[kafka]\nfoo.bar = "1"',
            "datagen.toml: kafka.foo.bar: expected valid librdkafka",
        ),
        (["run", "steady_state"], {}, "[registry]\nfoo = 1", "datagen.toml: registry.foo: expected settings the"),
        (["run", "steady_state"], {}, "[kafka]\nacks = 1", "datagen.toml: kafka.acks: expected valid librdkafka"),
        (["run", "steady_state", "-X", "foo.bar=1"], {"DATAGEN_KAFKA_ACKS": "all"}, "", "-X: expected valid"),
        (["run", "steady_state"], {"DATAGEN_KAFKA_TRANSACTIONAL_ID": "t"}, "", "DATAGEN_KAFKA_TRANSACTIONAL_ID: "),
        # a variable valid alone but not with the file's setting below it is the one blamed
        (
            ["run", "steady_state"],
            {"DATAGEN_KAFKA_ENABLE_GAPLESS_GUARANTEE": "true"},
            "[kafka]\nenable.idempotence = false",
            "DATAGEN_KAFKA_ENABLE_GAPLESS_GUARANTEE: expected valid librdkafka properties, found `enable.gapless",
        ),
        # librdkafka names linger.ms queue.buffering.max.ms: the layer, or its only property, is blamed
        (["run", "steady_state"], {}, '[kafka]\nlinger.ms = "abc"\nacks = "all"', "datagen.toml: expected valid"),
        (["run", "steady_state"], {"DATAGEN_KAFKA_LINGER_MS": "abc"}, "", "DATAGEN_KAFKA_LINGER_MS: expected valid"),
        # the file alone lacks the password a variable gives: its own error is not the one blamed
        (
            ["run", "steady_state"],
            {"DATAGEN_KAFKA_SASL_PASSWORD": SECRET, "DATAGEN_KAFKA_LINGER_MS": "abc"},
            '[kafka]\nsecurity.protocol = "SASL_PLAINTEXT"\nsasl.mechanism = "PLAIN"\nsasl.username = "u"',
            "DATAGEN_KAFKA_* variables: expected valid librdkafka properties, found Invalid value",
        ),
        # the registry's error is blamed on its key, though the file alone lacks the password given by a variable
        (
            ["run", "steady_state"],
            {"DATAGEN_KAFKA_SASL_PASSWORD": SECRET},
            '[kafka]\nsasl.mechanism = "PLAIN"\nsasl.username = "u"\n[registry]\nnope = 1',
            "datagen.toml: registry.nope: expected settings the schema registry client accepts",
        ),
        # with both layers at fault, the property librdkafka names first
        (
            ["run", "steady_state"],
            {"DATAGEN_KAFKA_ENABLE_IDEMPOTENCE": "true"},
            '[kafka]\nenable.idempotence = false\nacks = "1"',
            "datagen.toml: kafka.acks: expected valid librdkafka properties, found `acks`",
        ),
        (["run", "steady_state", "--config", "missing.toml"], {}, "", "--config: expected a readable TOML file"),
        (["run", "steady_state"], {"DATAGEN_CONFIG": "missing.toml"}, "", "DATAGEN_CONFIG: expected a readable TOML"),
    ],
)
def test_invalid_value_anywhere_is_one_line_naming_its_source(
    argv, variables, toml, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    if toml:
        (tmp_path / "datagen.toml").write_text(toml + "\n")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    # were the value let through, the run would still end soon, without an embedded stack or a fixed port
    assert main([*argv, "--duration", "2s", "-b", "127.0.0.1:1", "--metrics-port", "0"]) == 2
    captured = capsys.readouterr()
    assert _one_error_line(captured.err).startswith(f"datagen: error: {expected}")
    assert captured.out == ""  # nothing ran


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("DATAGEN_KAFKA_FOO", "DATAGEN_KAFKA_FOO: expected valid librdkafka properties"),
        ("DATAGEN_KAFKA_GROUP_ID", "DATAGEN_KAFKA_GROUP_ID: expected --group NAME"),
    ],
)
def test_tail_reads_kafka_variables_and_names_them(variable, expected, monkeypatch, capsys):
    monkeypatch.setenv(variable, "x")
    assert main(["tail", "topic", "-b", "127.0.0.1:1", "--timeout", "1s"]) == 2
    assert _one_error_line(capsys.readouterr().err).startswith(f"datagen: error: {expected}")


def test_bad_flag_names_the_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "steady_state", "--rate", "abc"])
    assert info.value.code == 2
    assert "argument --rate: expected a positive number" in _one_error_line(capsys.readouterr().err)


def test_overridden_layers_are_not_read(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datagen.toml").write_text('[run]\nrate = "abc"\nevents = 0\n')
    monkeypatch.setenv("DATAGEN_EVENTS", "3")  # hides the file's bad events
    assert main([*QUICK[:4], "--rate", "max", "--no-metrics"]) == 0  # rate: the flag hides the file's


def test_secret_in_a_bad_file_value_is_not_echoed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datagen.toml").write_text(f'[kafka]\nsasl.password = "{SECRET}"\nfoo.bar = "{SECRET}"\n')
    assert main(["run", "steady_state", "--duration", "2s", "-b", "127.0.0.1:1", "--metrics-port", "0"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "datagen.toml: kafka.foo.bar:" in err and SECRET not in err


# --- the config file: found in the working directory, or named -------------------------------------


def test_datagen_toml_in_the_working_directory_runs_a_whole_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datagen.toml").write_text(
        '[run]\nscenario = "steady_state"\nsink = "stdout"\nevents = 3\nrate = "max"\nno-metrics = true\nseed = 7\n'
    )
    assert main(["run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(json.loads(line)["event_id"] for line in lines)


def test_config_flag_replaces_the_working_directory_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "datagen.toml").write_text("[run]\nrate = -1\n")  # would be an error if read
    (tmp_path / "other.toml").write_text('[run]\nsink = "stdout"\nevents = 2\nno-metrics = true\n')
    assert main(["run", "steady_state", "--config", "other.toml", "--rate", "max"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


# --- flags: -b, --bootstrap-server, --help ---------------------------------------------------------


@pytest.mark.parametrize("flag", ["-b", "--bootstrap-server", "--bootstrap-servers"])
@pytest.mark.parametrize("command", [["run", "x"], ["tail", "t"]])
def test_bootstrap_spellings(flag, command, tmp_path):
    assert _resolved([*command, flag, "h:9092"], {}, tmp_path).bootstrap_servers == "h:9092"


def _run_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def test_every_run_flag_has_its_variable_named_in_help():
    helped = 0
    for action in _run_parser()._actions:
        if action.dest in ("help", "kafka_conf", "report_file", "log_level"):
            continue  # -X: DATAGEN_KAFKA_*, named in its help; --log-level: the main parser's
        assert isinstance(action.default, Env), action.dest
        assert action.default.name == f"DATAGEN_{action.dest.upper()}"
        assert action.default.name in (action.help or ""), action.dest
        helped += 1
    assert helped >= 20
    text = _run_parser().format_help()
    assert "DATAGEN_KAFKA_SASL_PASSWORD" in text and "datagen.toml" in text


# --- shell completion ------------------------------------------------------------------------------


def _complete(line: str, tmp_path: Path) -> list[str]:
    """What argcomplete offers for `line` (its own protocol: _ARGCOMPLETE, COMP_LINE, COMP_POINT)."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
    }
    subprocess.run([sys.executable, "-m", "producer"], env=env, cwd=ROOT, check=True, timeout=60)
    return out.read_text().split()


def test_completion_offers_runs_flags(tmp_path):
    offered = _complete("datagen run --", tmp_path)
    for flag in ("--rate", "--config", "--bootstrap-server", "--bootstrap-servers", "--no-metrics", "--workers"):
        assert flag in offered
    assert _complete("datagen run --ra", tmp_path) == ["--rate"]
    assert "run" in _complete("datagen ", tmp_path)


def test_readme_example_config_is_accepted(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```toml\n# datagen.toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "datagen.toml").write_text(example)
    environ = {"DATAGEN_KAFKA_SASL_PASSWORD": SECRET, "DATAGEN_KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "u:p"}
    settings = run_settings(_resolved(["run"], environ, tmp_path))
    assert (settings.scenario, settings.rate, settings.duration, settings.topic_prefix) == (
        "drift_ramp",
        500.0,
        600.0,
        "staging.",
    )
    assert settings.kafka_conf["linger.ms"] == "50" and settings.kafka_conf["sasl.password"] == SECRET
    check_client_conf(settings.kafka_conf, settings.schema_registry_url, sources=settings.kafka_sources)
