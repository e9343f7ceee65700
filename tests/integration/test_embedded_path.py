"""The README's first command: no broker configured, so datagen starts and keeps the embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def datagen(state_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")}
    env["DATAGEN_STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_run_then_tail_through_the_embedded_stack(tmp_path):
    try:
        run = datagen(tmp_path, "run", "scenarios/steady_state.yaml", "--duration", "3s", "--metrics-port", "0")
        assert run.returncode == 0, run.stderr
        assert "embedded broker: 127.0.0.1:" in run.stdout
        assert "summary:" in run.stdout and "fintech.transactions" in run.stdout
        status = datagen(tmp_path, "embedded", "status")
        assert "embedded broker: 127.0.0.1:" in status.stdout and status.returncode == 0

        tail = datagen(tmp_path, "tail", "fintech.transactions", "-n", "5")
        assert tail.returncode == 0, tail.stderr
        lines = tail.stdout.strip().splitlines()
        assert len(lines) == 5
        events = [json.loads(line) for line in lines]
        assert all(e["event_type"].startswith("transaction-") for e in events)
        assert all(e["payload"]["user_id"] for e in events)

        again = datagen(tmp_path, "run", "steady_state", "--events", "100", "--rate", "max", "--metrics-port", "0")
        assert again.returncode == 0, again.stderr
        assert "starting the embedded" not in again.stdout  # reused, not restarted
    finally:
        stop = datagen(tmp_path, "embedded", "stop")
    assert "stopped" in stop.stdout
    after = datagen(tmp_path, "embedded", "status")
    assert "not running" in after.stdout and after.returncode == 3


def test_tail_without_any_broker_explains(tmp_path):
    tail = datagen(tmp_path, "tail", "fintech.transactions")
    assert tail.returncode == 2
    assert "no embedded broker is running" in tail.stderr
