"""`datagen tail` without a broker: bad flags are one line and exit 2, and which broker counts as the embedded one."""

from __future__ import annotations

import json
import os

import pytest

from producer.cli import build_parser, main
from producer.embedded.stack import STATE_FILE
from producer.tail import connection

UNREACHABLE = "127.0.0.1:1"  # a connection attempt would end in exit 3 (BrokerUnavailable) after seconds, not 2


def _one_error_line(err: str) -> str:
    assert err.startswith("datagen: error: ") and err.count("\n") == 1, err  # one line, never a traceback
    return err.strip()


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--group", ""], "argument --group: expected a consumer group id: printable characters, no spaces, found ''"),
        (["--group", "my group"], "argument --group: expected a consumer group id"),
        (["--group", "g\x1b[31m"], "argument --group: expected a consumer group id"),
        (["-n", "-1"], "argument -n: expected a non-negative integer, found '-1'"),
        (["-n", "0"], "-n: expected a positive integer (0, only new events, needs --follow), found 0"),
        (["-f", "--timeout", "soon"], "argument --timeout: expected a duration"),
        (["-f", "-X", "group.id=other"], "-X group.id: expected --group NAME for tail's consumer group, found 'other'"),
        (["-X", "no.such.property=1"], "-X"),
    ],
)
def test_bad_tail_flags_exit_2_with_one_line_before_connecting(flags, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_STATE_DIR", str(tmp_path))  # no embedded stack either
    try:
        code = main(["tail", "topic", "--bootstrap-servers", UNREACHABLE, *flags])
    except SystemExit as exc:  # argparse's own errors exit from the parser
        code = exc.code
    assert code == 2
    captured = capsys.readouterr()
    assert fragment in _one_error_line(captured.err)
    assert captured.out == ""


def test_follow_and_group_parse():
    args = build_parser().parse_args(["tail", "t", "-f", "-n", "0", "--group", "team.audit-1"])
    assert (args.follow, args.n, args.group) == (True, 0, "team.audit-1")
    plain = build_parser().parse_args(["tail", "t"])
    assert (plain.follow, plain.n, plain.group) == (False, 10, None)


def test_only_the_running_embedded_brokers_address_counts_as_embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_STATE_DIR", str(tmp_path))
    assert not connection("127.0.0.1:9092", None).embedded  # no stack running
    state = {"bootstrap_servers": "127.0.0.1:40001", "registry_url": "http://127.0.0.1:40002", "pid": os.getpid()}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))  # this process stands in for a live supervisor
    assert connection("127.0.0.1:40001", None).embedded
    assert not connection("127.0.0.1:9092", None).embedded
    from_stack = connection(None, None)
    assert from_stack == type(from_stack)("127.0.0.1:40001", "http://127.0.0.1:40002", True)
