"""What datagen says about the network is true: exit 3 when it never connected, /readyz follows the broker,
a registry that refuses is named in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from producer.embedded.broker import EmbeddedBroker, free_port
from tests.integration.test_run_kafka import http_get, metric, wait_for_line

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "tests" / "fixtures" / "transactions.yaml")


def datagen(*args: str) -> subprocess.Popen:
    """Start `python -m producer ...` from the project root."""
    return subprocess.Popen(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("datagen: error:")]


def librdkafka_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " librdkafka " in line]


def test_duration_ends_a_run_that_never_reached_the_broker_with_exit_3():
    dead = free_port()
    started = time.monotonic()
    proc = datagen(
        "run",
        "steady_state",
        "--bootstrap-servers",
        f"127.0.0.1:{dead}",
        "--schema-registry-url",
        f"http://127.0.0.1:{dead}",
        "--duration",
        "3s",
        "--no-metrics",
    )
    _out, err = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == 3, err
    assert took < 3 + 5 + 5, f"took {took:.1f}s"  # 5 s of interpreter start and scenario load on a busy machine
    [line] = error_lines(err)
    assert line.startswith(f"datagen: error: broker 127.0.0.1:{dead} unreachable"), line
    assert "--duration 3s reached" in line
    assert "Traceback" not in err
    assert len(librdkafka_lines(err)) < 20, err


def test_a_signal_while_the_broker_is_unreachable_exits_3_with_one_line():
    dead = free_port()
    proc = datagen(
        "run",
        "steady_state",
        "--bootstrap-servers",
        f"127.0.0.1:{dead}",
        "--format",
        "jsonl",
        "--events",
        "100",
        "--no-metrics",
    )
    try:
        wait_for_line(proc.stdout, "kafka: bootstrap=", timeout=60)
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, err
    [line] = error_lines(err)
    assert f"broker 127.0.0.1:{dead} unreachable" in line and "stopped by a signal" in line
    assert "Traceback" not in err


class _Unauthorized(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        body = b'{"error_code": 401, "message": "Unauthorized"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def refusing_registry() -> Iterator[str]:
    """A loopback HTTP server that answers 401 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("credentials_in", ["flag", "url"])
def test_a_registry_refusing_the_credentials_is_one_line_and_exit_3(kafka_bootstrap, refusing_registry, credentials_in):
    if credentials_in == "flag":
        url, auth = refusing_registry, ["-X", "schema.registry.basic.auth.user.info=alice:hunter2-secret"]
    else:
        url, auth = refusing_registry.replace("http://", "http://alice:hunter2-secret@"), []
    proc = datagen(
        "run",
        SCENARIO,
        "--events",
        "10",
        "--no-metrics",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--schema-registry-url",
        url,
        "--topic-prefix",
        f"auth{os.getpid()}.",
        *auth,
    )
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err
    expected = (
        f"datagen: error: schema registry {refusing_registry} refused the request: HTTP 401 Unauthorized "
        "(check schema.registry.basic.auth.user.info)"
    )
    assert error_lines(err) == [expected], err
    assert "Traceback" not in err and "hunter2" not in out + err


def wait_for_status(url: str, wanted: int, timeout: float) -> float:
    """Seconds until GET `url` answers `wanted` (polled twice a second); fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if http_get(url)[0] == wanted:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer {wanted} within {timeout:.0f}s")


def test_readyz_turns_503_while_the_broker_is_frozen_and_200_when_it_thaws():
    broker = EmbeddedBroker()
    broker.start()
    port = free_port()
    proc = datagen(
        "run",
        SCENARIO,
        "--rate",
        "200",
        "--format",
        "jsonl",
        "--metrics-port",
        str(port),
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "--duration",
        "50s",
    )
    readyz = f"http://127.0.0.1:{port}/readyz"
    frozen = False
    try:
        wait_for_line(proc.stdout, "playing scenario", timeout=30)
        wait_for_status(readyz, 200, timeout=10)
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        frozen = True
        wait_for_status(readyz, 503, timeout=15)
        _, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert metric(body, "datagen_ready") == 0
        assert metric(body, "datagen_oldest_undelivered_age_seconds") > 5
        os.kill(broker.pid, signal.SIGCONT)
        frozen = False
        wait_for_status(readyz, 200, timeout=15)
    finally:
        if frozen and broker.pid is not None:
            os.kill(broker.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        broker.stop()
    assert proc.returncode == 0, err
