"""scripts/real_kafka.py as a user runs it: Maven's refusal is one clear error, `up` serves until SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from scripts import real_kafka
from scripts.real_kafka import RealKafkaUnavailable
from tests.conftest import real_kafka_or_why_not

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("java") is None, reason="needs java and mvn")
def test_fetch_of_an_unknown_version_fails_with_mavens_reason(tmp_path, monkeypatch):
    # Maven Central answers 404 for it at once (or the machine is offline: the same failure)
    monkeypatch.setenv("DATAGEN_KAFKA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(
        RealKafkaUnavailable, match=r"mvn could not fetch org.apache.kafka:kafka_2.13:0.0.1-none \(exit 1\)"
    ):
        real_kafka.fetch_jars("0.0.1-none")
    assert not (tmp_path / "cache" / "complete").exists()


def test_up_serves_a_broker_until_sigterm():
    why = real_kafka_or_why_not()
    if why is not None:
        pytest.skip(why)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "real_kafka.py"), "up", "--brokers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # printed once the broker answers metadata
        assert line.startswith(f"kafka {real_kafka.KAFKA_VERSION}: 1 broker(s) at 127.0.0.1:"), line
        bootstrap = line.rsplit(" ", 1)[1].strip()
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        producer.produce("real-kafka-script", b"x")
        assert producer.flush(30) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()
