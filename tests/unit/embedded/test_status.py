"""`datagen embedded status`: exit 0 while the stack runs, 3 when it does not (scripts can test it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from producer.embedded.stack import STATE_FILE

ROOT = Path(__file__).resolve().parents[3]


def status(state_dir: Path) -> subprocess.CompletedProcess:
    """`python -m producer embedded status` with its state in `state_dir`."""
    return subprocess.run(
        [sys.executable, "-m", "producer", "embedded", "status"],
        cwd=ROOT,
        env={**os.environ, "DATAGEN_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _state(state_dir: Path, pid: int) -> None:
    info = {"bootstrap_servers": "127.0.0.1:19092", "registry_url": "http://127.0.0.1:18081", "pid": pid}
    (state_dir / STATE_FILE).write_text(json.dumps(info | {"broker_pid": pid, "registry_pid": pid}))


def test_status_exits_3_when_nothing_runs(tmp_path):
    done = status(tmp_path)
    assert (done.returncode, done.stdout) == (3, "embedded stack: not running\n"), done.stderr


def test_status_exits_3_when_the_supervisor_named_in_the_state_file_is_gone(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)  # reaped: its pid names no process now
    _state(tmp_path, gone.pid)
    assert status(tmp_path).returncode == 3


def test_status_exits_0_while_the_supervisor_runs(tmp_path):
    # a live process stands for the supervisor: status reads the state file and checks that pid
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _state(tmp_path, supervisor.pid)
        done = status(tmp_path)
    finally:
        supervisor.kill()
        supervisor.wait(10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("embedded broker: 127.0.0.1:19092  schema registry: http://127.0.0.1:18081")
