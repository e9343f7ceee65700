"""Credentials never reach logs: registry URLs in our lines and in any library's (real processes: tests/integration)."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from producer.embedded.registry import LocalSchemaRegistry
from producer.encoding.avro import RegistryAvro
from producer.errors import BrokerUnavailable

SECRET = "SECRETpw42"


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
