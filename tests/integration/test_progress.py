"""Progress while `datagen run` plays: the live view under a pseudo-terminal, periodic lines off one, --quiet.

Real `python -m producer run` processes to the file sink (no broker) of a 5 s scenario with two
phases and a drift block in the second; each test runs one or two of them (under ~8 s each).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: two_phases
seed: 3
streams:
  fintech.transactions: {weight: 1}
phases:
  - {name: calm, duration: 2s, rate: 300}
  - name: shift
    duration: 3s
    rate: 600
    drift:
      - stream: fintech.transactions
        params: {travel_share: 0.3}
        curve: linear
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "two_phases.yaml"
    path.write_text(SCENARIO)
    return path


def _command(scenario: Path, out: Path, *extra: str) -> list[str]:
    run = ["run", str(scenario), "--sink", "file", "--format", "jsonl", "--out", str(out), "--no-metrics"]
    return [sys.executable, "-m", "producer", *run, *extra]


def run_on_pty(command: list[str], timeout: float = 30.0) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal (stdout piped); its exit code and the terminal's text, escapes removed."""
    master, slave = os.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        code = proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def run_piped(command: list[str]) -> tuple[int, str, str]:
    """Run with stdout and stderr piped (not a terminal)."""
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )
    return done.returncode, done.stdout, done.stderr


def test_live_view_updates_on_a_terminal(scenario: Path, tmp_path: Path) -> None:
    code, screen = run_on_pty(_command(scenario, tmp_path / "out"))
    assert code == 0, screen
    achieved = [int(x.replace(",", "")) for x in re.findall(r"achieved ([\d,]+)/s", screen)]
    assert any(rate > 0 for rate in achieved), screen
    phases = re.findall(r"phase (\d)/2 (\w+)", screen)
    assert ("1", "calm") in phases and ("2", "shift") in phases, screen
    assert phases.index(("1", "calm")) < phases.index(("2", "shift"))
    drift = [int(p) for p in re.findall(r"drift fintech\s+\S+\s+(\d+)%", screen)]
    # the linear drift spans the 3 s shift phase, the view redraws twice a second: several values in between
    assert drift[0] == 0 and max(drift) >= 50, drift
    assert len({p for p in drift if 0 < p < 100}) >= 2, drift
    assert drift == sorted(drift), drift


def _kv(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split())


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_periodic_and_phase_lines_off_a_terminal(scenario: Path, tmp_path: Path, log_format: str) -> None:
    code, stdout, stderr = run_piped(
        _command(scenario, tmp_path / "out", "--progress-interval", "1s", "--log-format", log_format)
    )
    assert code == 0, stderr
    assert "summary:" in stdout and "event=" not in stdout  # progress goes to stderr, the summary stays on stdout
    lines = [line for line in stderr.splitlines() if "progress" in line or "phase" in line]
    records = [json.loads(line) if log_format == "json" else _kv(line) for line in lines]
    phases = [r for r in records if r["event"] == "phase"]
    assert [(p["phase"], p["previous"]) for p in phases] == [("calm", "none"), ("shift", "calm")], lines
    progress = [r for r in records if r["event"] == "progress"]
    # a 5 s run with a line each second: 3 at least, allowing for start-up on a loaded machine
    assert len(progress) >= 3, lines
    last = progress[-1]
    assert float(last["achieved_rate"]) > 0 and int(last["delivered"]) > 0 and int(last["failed"]) == 0
    assert last["ends_by"] == "scenario-end" and last["phase_index"] in ("1/2", "2/2")
    if log_format == "json":
        assert set(last["topics"]) == {"fintech.transactions"} and "fintech" in last["drift"]
    else:
        assert "topic.fintech.transactions.rate" in last and "drift.fintech" in last


def test_quiet_prints_neither_view_nor_lines(scenario: Path, tmp_path: Path) -> None:
    short = ("--quiet", "--duration", "2s", "--progress-interval", "0.5s")
    code, screen = run_on_pty(_command(scenario, tmp_path / "tty", *short))
    assert code == 0 and "summary:" not in screen  # the summary goes to stdout, piped here
    assert "phase" not in screen and "achieved" not in screen, screen
    code, stdout, stderr = run_piped(_command(scenario, tmp_path / "pipe", *short))
    assert code == 0 and "summary:" in stdout
    assert "event=" not in stderr and "event=" not in stdout, stderr


def test_workers_parent_prints_one_set_of_lines_merged(scenario: Path, tmp_path: Path) -> None:
    flags = ("--workers", "2", "--progress-interval", "1s", "--log-format", "json")
    code, stdout, stderr = run_piped(_command(scenario, tmp_path / "out", *flags))
    assert code == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [r["phase"] for r in records if r["event"] == "phase"] == ["calm", "shift"], stderr
    progress = [r for r in records if r["event"] == "progress"]
    assert len(progress) >= 3, stderr  # 5 s of producing after the workers start, a line each second
    assert not any("[worker" in line and "event" in line for line in stderr.splitlines())  # workers print none
    # the workers' counts summed: the last line comes at most a second (and a 0.5 s report) before the end,
    # when 600 events/s are due, so it holds well over 40% of the summary's total (2,400 events)
    total = int(re.search(r"^\s+total\s+(\d+)", stdout, re.M).group(1))  # type: ignore[union-attr]
    assert 0.4 * total < progress[-1]["delivered"] <= total, (progress[-1], total)
