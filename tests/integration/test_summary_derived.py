"""`--labels topic`: the summary counts ground-truth records apart from events, alone and with --workers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: pair
seed: 5
streams:
  fintech.transactions: {weight: 3}
  fintech.sessions: {weight: 1}
phases:
  - {name: only, duration: 2s, rate: 1000}
"""
_ROW = re.compile(r"^  (\S+(?: \S+)?)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+$")
_RATE = re.compile(r"achieved rate: ([\d,]+) events/s over ([\d.]+)s of producing.*; (\d+) events generated")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_summary_rate_counts_events_not_ground_truth_records(tmp_path, workers):
    (tmp_path / "pair.yaml").write_text(SCENARIO)
    command = [sys.executable, "-m", "producer", "run", "pair.yaml", "--sink", "file", "--format", "jsonl"]
    command += ["--labels", "topic", "--metrics-port", "0", "--workers", workers]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    _, _, table = done.stdout.partition("summary:")
    rows = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for line in table.splitlines() if (m := _ROW.match(line))}
    events, derived, total = rows["domain events"], rows["derived records"], rows["total"]
    assert rows["ground-truth"] == derived and derived[1] > 0  # every delivered truth record, on its own row
    assert events[1] == rows["fintech.transactions"][1] + rows["fintech.sessions"][1]
    assert total[1] == events[1] + derived[1]
    rate, seconds, generated = _RATE.search(table).groups()
    assert int(generated) == events[1]
    # the rate is domain events over the producing time (the line rounds both); ground truth would double it
    assert abs(float(rate.replace(",", "")) - events[1] / float(seconds)) <= 0.05 * events[1] / float(seconds)
    assert f"{derived[1]} derived records delivered" in table
