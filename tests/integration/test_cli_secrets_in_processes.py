"""Real `datagen` processes: bad -X stops before anything starts; credentials never reach stdout, stderr or logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.embedded.registry import LocalSchemaRegistry

SECRET = "SECRETpw42"


def _datagen(args: list[str], env: dict[str, str], timeout: float = 30.0) -> tuple[str, str, float]:
    """Run `python -m producer ARGS`; SIGTERM it if still running after `timeout` s. (stdout, stderr, seconds)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    return out, err, time.monotonic() - started


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A private DATAGEN_STATE_DIR; an embedded stack started there (the bug this guards against) is stopped."""
    yield tmp_path
    if (tmp_path / "embedded.json").exists():
        _datagen(["embedded", "stop"], {"DATAGEN_STATE_DIR": str(tmp_path)})


def test_bad_x_stops_before_metrics_and_embedded_stack(state_dir):
    out, err, seconds = _datagen(
        ["run", "steady_state", "--metrics-port", "0", "-X", "foo.bar=1"], {"DATAGEN_STATE_DIR": str(state_dir)}
    )
    assert err.startswith("datagen: error: -X: expected valid librdkafka properties")
    assert err.strip().endswith('found No such configuration property: "foo.bar"') and err.count("\n") == 1
    assert "metrics:" not in out and "embedded broker" not in out and out == ""
    assert not (state_dir / "embedded.json").exists()
    assert seconds < 5  # a generous bound: starting the embedded stack alone takes longer


def test_registry_and_sasl_credentials_never_printed(state_dir):
    with LocalSchemaRegistry("127.0.0.1", 0) as registry:
        port = registry.url.rsplit(":", 1)[1]
        out, err, _ = _datagen(
            [
                "run",
                "steady_state",
                "--sink",
                "kafka",
                "--bootstrap-servers",
                "127.0.0.1:1",
                "--schema-registry-url",
                f"http://user:{SECRET}@127.0.0.1:{port}",
                "--duration",
                "3s",
                "--no-metrics",
                "--log-level",
                "DEBUG",
                "-X",
                f"sasl.password={SECRET}",
                "-X",
                "sasl.username=user",
            ],
            {"DATAGEN_STATE_DIR": str(state_dir)},
        )
    assert f"kafka: bootstrap=127.0.0.1:1 schema-registry=http://127.0.0.1:{port}" in out
    assert "sasl.password=***" in err  # the producer config was logged, redacted
    assert SECRET not in out and SECRET not in err


def test_kafka_variables_reach_the_producer_but_never_ps(state_dir):
    """DATAGEN_KAFKA_SASL_PASSWORD configures the producer, yet no process's argv (what `ps` shows) holds it."""
    env = {**os.environ, "DATAGEN_STATE_DIR": str(state_dir), "DATAGEN_KAFKA_SASL_PASSWORD": SECRET}
    env["DATAGEN_KAFKA_SASL_USERNAME"] = "alice"
    argv = ["run", "steady_state", "-b", "127.0.0.1:1", "--format", "jsonl", "--duration", "3s", "--no-metrics"]
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", *argv, "--log-level", "DEBUG"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        seen: list[str] = []
        while process.poll() is None and "127.0.0.1:1" not in seen:  # until exec has replaced the forked argv
            time.sleep(0.01)
            seen = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "127.0.0.1:1" in seen and "steady_state" in listing
    assert SECRET not in listing and SECRET not in "\0".join(seen)
    assert "sasl.password=***" in err and "sasl.username=alice" in err  # the producer config, logged redacted
    assert SECRET not in out and SECRET not in err
