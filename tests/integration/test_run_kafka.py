"""`datagen run` against a real broker and registry, checked by a consumer that is not datagen's code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from producer.embedded.broker import free_port
from tests.helpers import consume_all

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "tests" / "fixtures" / "transactions.yaml")


def datagen(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start `python -m producer ...` from the project root."""
    return subprocess.Popen(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (errors included)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of one metric whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_line(stream, needle: str, timeout: float = 120.0) -> str:
    """Read lines from a process stream until one contains `needle`."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"never saw {needle!r}; got:\n{''.join(seen)}")


def test_delivered_counter_equals_what_an_independent_consumer_decodes(kafka_bootstrap, schema_registry_url):
    port = free_port()
    prefix = f"it{os.getpid()}."
    proc = datagen(
        "run",
        SCENARIO,
        "--events",
        "3000",
        "--rate",
        "max",
        "--topic-prefix",
        prefix,
        "--bootstrap-servers",
        kafka_bootstrap,
        "--schema-registry-url",
        schema_registry_url,
        "--metrics-port",
        str(port),
        "--linger",
        "60s",
        "--partitions",
        "3",
    )
    try:
        wait_for_line(proc.stdout, "summary:")
        output = wait_for_line(proc.stdout, "serving metrics")
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        topic = prefix + "fintech.transactions"
        delivered = metric(body, "datagen_delivered_events_total", topic=topic)
        assert delivered == 3000, output
        assert metric(body, "datagen_failed_events_total", topic=topic) == 0
        assert metric(body, "datagen_produced_events_total", topic=topic) == 3000
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()

    messages = consume_all(kafka_bootstrap, topic, timeout=60)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": schema_registry_url}))
    ctx = SerializationContext(topic, MessageField.VALUE)
    decoded = [deserializer(m.value(), ctx) for m in messages]
    assert len(decoded) == delivered
    assert {d["event_type"] for d in decoded} >= {"transaction-initiated", "transaction-completed"}
    first = messages[0]
    assert first.key().decode() == str(decoded[0]["payload"]["user_id"])
    # the record timestamp is the event time
    assert first.timestamp()[1] == int(decoded[0]["timestamp"].timestamp() * 1000)


def test_unreachable_broker_retries_quietly_and_is_not_ready(tmp_path):
    port, dead = free_port(), free_port()
    proc = datagen(
        "run",
        "steady_state",
        "--bootstrap-servers",
        f"127.0.0.1:{dead}",
        "--format",
        "jsonl",
        "--metrics-port",
        str(port),
    )
    try:
        wait_for_line(proc.stderr, "broker unreachable", timeout=60)
        status, _body = http_get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        ticks = os.sysconf("SC_CLK_TCK")
        stat = lambda: sum(int(x) for x in Path(f"/proc/{proc.pid}/stat").read_text().split()[13:15])  # noqa: E731
        before = stat()
        time.sleep(4)
        cpu_seconds = (stat() - before) / ticks
        assert cpu_seconds < 1.0, f"busy loop: {cpu_seconds:.2f} s of CPU in 4 s"  # backoff, not spinning
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err  # it never reached the broker: not a clean run
    assert err.count("datagen: error: broker") == 1, err


def test_librdkafka_properties_pass_through_and_secrets_stay_out_of_logs(kafka_bootstrap, schema_registry_url):
    prefix = f"x{os.getpid()}."
    proc = datagen(
        "run",
        SCENARIO,
        "--events",
        "200",
        "--rate",
        "max",
        "--no-metrics",
        "--topic-prefix",
        prefix,
        "--bootstrap-servers",
        kafka_bootstrap,
        "--schema-registry-url",
        schema_registry_url,
        "--partitions",
        "2",
        "-X",
        "linger.ms=7",
        "-X",
        "client.id=datagen-it",
        "-X",
        "sasl.password=hunter2-secret",
        "-X",
        "sasl.username=alice",
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "linger.ms=7" in err and "client.id=datagen-it" in err
    assert "hunter2-secret" not in out + err
    assert "sasl.password=***" in err
    assert len(consume_all(kafka_bootstrap, prefix + "fintech.transactions", timeout=60)) == 200


def test_unknown_librdkafka_property_is_rejected_before_any_network(kafka_bootstrap):
    proc = datagen(
        "run",
        "steady_state",
        "--events",
        "10",
        "--no-metrics",
        "--format",
        "jsonl",
        "--bootstrap-servers",
        kafka_bootstrap,
        "-X",
        "no.such.property=1",
    )
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "no.such.property" in err and err.strip().count("\n") == 0, err


def test_broker_dying_mid_run_leaves_every_event_delivered_or_counted_failed(tmp_path):
    from producer.embedded.broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    proc = datagen(
        "run",
        SCENARIO,
        "--rate",
        "500",
        "--format",
        "jsonl",
        "--no-metrics",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "-X",
        "message.timeout.ms=2000",
        "-X",
        "socket.timeout.ms=1000",
    )
    try:
        wait_for_line(proc.stdout, "playing scenario", timeout=60)
        time.sleep(2)
        broker.stop()  # everything produced from now on cannot be delivered
        time.sleep(4)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
        broker.stop()
    total = re.search(r"^\s+total\s+(\d+)\s+(\d+)\s+(\d+)", out, re.M)
    produced, delivered, failed = map(int, total.groups())
    assert delivered > 0 and failed > 0, out
    assert delivered + failed == produced, out  # nothing silently dropped
    assert proc.returncode == 4, err  # failures are an error exit, with the first error named
    assert "failed delivery" in err
    # the cause, not librdkafka giving up on it
    first_error = re.search(r"first error: (.*)$", out, re.M).group(1)
    assert not first_error.startswith(("_PURGE_QUEUE", "_MSG_TIMED_OUT")), out
    assert first_error.startswith("_TRANSPORT"), out
    # an outage is summarised, not logged reconnect by reconnect
    assert len([line for line in err.splitlines() if " librdkafka " in line]) < 20, err
