"""`oracle:` blocks are checked strictly: exit 2, one line, the field's path; nothing inexact runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.cli import main
from producer.errors import ConfigError
from producer.scenario.loader import load_scenario

BASE = """\
name: t
streams:
  fintech.transactions: {weight: 1}
  fintech.sessions: {weight: 0}
phases:
  - {name: p, duration: 2s, rate: 100}
oracle:
  - {name: ok, stream: fintech.transactions, window: 1m, sum: payload.amount}
"""


def write(tmp_path: Path, block: str) -> Path:
    """BASE with a second oracle block (YAML flow mapping text)."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE + f"  - {block}\n")
    return path


@pytest.mark.parametrize(
    ("block", "path", "expected"),
    [
        ("{name: x, stream: fintech.nope, window: 1m}", "oracle[1].stream", "a topic this scenario writes"),
        ("{name: x, stream: fintech.sessions, window: 1m}", "oracle[1].stream", "a topic this scenario writes"),
        ("{name: x, stream: fintech.transactions, window: 1m, sum: payload.currency}", "oracle[1].sum", "a numeric"),
        ("{name: x, stream: fintech.transactions, window: 1m, sum: timestamp}", "oracle[1].sum", "a numeric"),
        ("{name: x, stream: fintech.transactions, window: 1m, sum: payload.nope}", "oracle[1].sum", "a field of"),
        (
            "{name: x, stream: fintech.transactions, window: 1m, sum: 'payload..amount'}",
            "oracle[1].sum",
            "a dotted field path",
        ),
        ("{name: x, stream: fintech.transactions, window: 1.5ms}", "oracle[1].window", "whole number of milli"),
        ("{name: x, stream: fintech.transactions, window: 1m, allowed_lateness: -1}", "oracle[1].allowed_lateness", ""),
        ("{name: x, stream: fintech.transactions, window: 1m, group_by: user}", "oracle[1].group_by", "key"),
        ("{name: x, stream: fintech.transactions, window: 1m, duplicates: once}", "oracle[1].duplicates", "count_"),
        ("{name: x, stream: fintech.transactions, window: 1m, grace: 1s}", "oracle[1].grace", ""),
        ("{name: x, stream: fintech.transactions}", "oracle[1].window", ""),
        ("{name: ok, stream: fintech.transactions, window: 1m}", "oracle", "unique oracle names"),
    ],
)
def test_a_bad_oracle_block_names_its_field(tmp_path, capsys, block, path, expected):
    scenario = write(tmp_path, block)
    with pytest.raises(ConfigError) as info:
        load_scenario(scenario)
    assert info.value.path == path and expected in str(info.value)
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0]


def test_numeric_fields_of_every_kind_are_accepted(tmp_path):
    for field in ("payload.amount", "payload.processing_time_ms", "payload.risk_score"):  # decimal, int, double
        load_scenario(write(tmp_path, f"{{name: x, stream: fintech.transactions, window: 1m, sum: {field}}}"))


@pytest.mark.parametrize("flags", [["--workers", "2"], ["--shard", "1/2"]])
def test_group_by_event_type_is_refused_when_processes_split_the_keys(tmp_path, capsys, flags):
    scenario = write(tmp_path, "{name: types, stream: fintech.transactions, window: 1m, group_by: event_type}")
    argv = ["run", str(scenario), "--sink", "file", "--out", str(tmp_path / "out"), "--no-metrics", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "oracle types: group_by event_type" in err[0]
    assert not (tmp_path / "out").exists()  # refused before anything ran
