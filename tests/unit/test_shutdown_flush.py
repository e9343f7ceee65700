"""The shutdown flush gives way to a signal: SIGTERM during a flush to a broker that never answers cuts it short."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from producer.app import SIGNAL_FLUSH_BUDGET, Run, RunSettings
from producer.sinks.base import Record
from producer.sinks.kafka import KafkaSink


@pytest.mark.slow  # waits out SIGNAL_FLUSH_BUDGET (4 s) and librdkafka's purge: the behaviour under test is that wait
def test_a_signal_during_a_long_shutdown_flush_cuts_it_short(tmp_path: Path) -> None:
    """A producer whose broker never answers: the flush would wait 30 s; after SIGTERM it purges within seconds."""
    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = Run(RunSettings(scenario="steady_state", sink="file", out=tmp_path, metrics_port=None))
    sink = KafkaSink(run.stats, f"127.0.0.1:{port}", {}, stop=run.stop)
    sink._producer = Producer(sink.producer_conf())  # as open() leaves it, without waiting for a broker
    sink.write([Record("t", b"k", b"v", 0)])
    with run._exit:
        run._install_signals()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        remaining = run._flush(sink)
        took = time.monotonic() - started
    assert remaining == 1 and run.stop.is_set()
    assert took < SIGNAL_FLUSH_BUDGET + 5.5, took  # the budget, then librdkafka's purge
