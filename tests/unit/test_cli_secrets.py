"""Real `datagen` processes: bad -X stops before anything starts; credentials never reach stdout, stderr or logs."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer.embedded.registry import LocalSchemaRegistry
from producer.encoding.avro import RegistryAvro
from producer.errors import BrokerUnavailable

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


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_registry_avro_logs_hide_url_credentials(caplog):
    caplog.set_level(logging.DEBUG, logger="producer")
    with LocalSchemaRegistry("127.0.0.1", 0) as registry:
        url = registry.url.replace("http://", f"http://user:{SECRET}@")
        RegistryAvro(url).encoder("payments", "common/ground_truth.avsc")
    assert "schema registered subject=payments-value" in caplog.text
    stop = threading.Event()
    stop.set()  # give up after the first failed attempt
    unreachable = RegistryAvro(f"http://user:{SECRET}@127.0.0.1:{_closed_port()}", {"max.retries": 0}, stop)
    with pytest.raises(BrokerUnavailable) as info:
        unreachable.encoder("payments", "common/ground_truth.avsc")
    assert "schema registry unreachable url=http://127.0.0.1:" in caplog.text
    assert SECRET not in caplog.text and SECRET not in str(info.value)


def test_log_lines_of_any_library_lose_url_credentials():
    from producer.redact import SafeFormatter

    url = f"http://u:{SECRET}@h/x"
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s", (url,), None)
    assert SafeFormatter("%(name)s %(message)s").format(record) == "httpx HTTP Request: POST http://h/x"
