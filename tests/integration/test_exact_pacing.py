"""A phase played at its own pace lasts its declared time in wall time (fintech.sessions lasted 8.5 s of 30)."""

from __future__ import annotations

import subprocess
import sys
import time


def test_twenty_second_sessions_phase_lasts_twenty_seconds(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        'name: s\nseed: 7\nclock: {start: "2026-01-05T08:00:00Z", speed: 1}\n'
        "streams:\n  fintech.sessions: {weight: 1}\n"
        "phases:\n  - {name: p, duration: 20s, rate: 400}\nrepeat: 1\n"
    )
    out = tmp_path / "out"
    start = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "producer",
            "run",
            str(path),
            "--sink",
            "file",
            "--format",
            "jsonl",
            "--out",
            str(out),
            "--no-metrics",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    wall = time.monotonic() - start
    # a generous bound around 20 s (interpreter start and the burn-in included): 20 ± 1.5 s
    assert 18.5 <= wall <= 21.5, wall
