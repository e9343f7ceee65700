"""The local schema registry, driven by confluent-kafka's own client and Avro serdes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, header_schema_id_serializer
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from producer.embedded.registry import LocalSchemaRegistry
from producer.errors import ConfigError
from tests.unit.embedded.helpers import registry_error

USER_V1 = json.dumps(
    {"type": "record", "name": "User", "namespace": "datagen.test", "fields": [{"name": "id", "type": "string"}]}
)
USER_V2 = json.dumps(
    {
        "type": "record",
        "name": "User",
        "namespace": "datagen.test",
        "fields": [{"name": "id", "type": "string"}, {"name": "age", "type": ["null", "int"], "default": None}],
    }
)
PAYMENT = json.dumps(
    {
        "type": "record",
        "name": "Payment",
        "namespace": "datagen.test",
        "fields": [
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}},
            {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {
                "name": "payload",
                "type": [
                    {"type": "record", "name": "CardPayment", "fields": [{"name": "card_last4", "type": "string"}]},
                    {
                        "type": "record",
                        "name": "BankTransfer",
                        "fields": [{"name": "iban", "type": "string"}, {"name": "instant", "type": "boolean"}],
                    },
                ],
            },
        ],
    }
)


def test_register_same_schema_twice_returns_same_id(
    client: SchemaRegistryClient, registry: LocalSchemaRegistry
) -> None:
    first = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    # a fresh client has no cache, so this really asks the server
    again = SchemaRegistryClient({"url": registry.url}).register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert first == again == 1
    assert client.get_versions("users-value") == [1]


def test_new_schema_gets_new_id_and_version(client: SchemaRegistryClient) -> None:
    assert client.register_schema("users-value", Schema(USER_V1, "AVRO")) == 1
    assert client.register_schema("users-value", Schema(USER_V2, "AVRO")) == 2
    assert client.get_versions("users-value") == [1, 2]
    latest = client.get_latest_version("users-value")
    assert (latest.version, latest.schema_id, latest.schema.schema_str) == (2, 2, USER_V2)
    first = client.get_version("users-value", 1)
    assert (first.version, first.schema_id, first.subject) == (1, 1, "users-value")


def test_identical_schema_under_another_subject_reuses_global_id(client: SchemaRegistryClient) -> None:
    reordered = json.dumps(json.loads(USER_V1), indent=4, sort_keys=True)  # same schema, other text
    assert client.register_schema("a-value", Schema(USER_V1, "AVRO")) == 1
    assert client.register_schema("b-value", Schema(reordered, "AVRO")) == 1
    assert client.get_version("b-value", 1).schema_id == 1
    assert client.get_subjects() == ["a-value", "b-value"]
    usages = client.get_schema_versions(1)
    assert [(u.subject, u.version) for u in usages] == [("a-value", 1), ("b-value", 1)]


def test_get_schema_by_id_and_guid(client: SchemaRegistryClient, registry: LocalSchemaRegistry) -> None:
    schema_id = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    fresh = SchemaRegistryClient({"url": registry.url})
    assert fresh.get_schema(schema_id).schema_str == USER_V1
    assert fresh.get_schema(schema_id, subject_name="users-value").schema_str == USER_V1
    guid = fresh.get_latest_version("users-value").guid
    assert guid and fresh.get_schema_by_guid(guid).schema_str == USER_V1
    assert fresh.get_schema_types() == ["AVRO"]


def test_lookup_finds_registered_version(client: SchemaRegistryClient) -> None:
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    client.register_schema("users-value", Schema(USER_V2, "AVRO"))
    found = client.lookup_schema("users-value", Schema(USER_V2, "AVRO"))
    assert (found.subject, found.schema_id, found.version) == ("users-value", 2, 2)


def test_not_found_errors_carry_confluent_codes(client: SchemaRegistryClient) -> None:
    assert registry_error(client.get_version, "missing-value", 1).error_code == 40401
    assert registry_error(client.get_latest_version, "missing-value").error_code == 40401
    assert registry_error(client.get_versions, "missing-value").error_code == 40401
    client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    missing_version = registry_error(client.get_version, "users-value", 7)
    assert (missing_version.http_status_code, missing_version.error_code) == (404, 40402)
    assert registry_error(client.get_schema, 99).error_code == 40403
    assert registry_error(client.lookup_schema, "users-value", Schema(USER_V2, "AVRO")).error_code == 40403
    assert registry_error(client.lookup_schema, "missing-value", Schema(USER_V1, "AVRO")).error_code == 40401


def test_invalid_schema_is_rejected_with_42201(client: SchemaRegistryClient) -> None:
    unknown_field_type = json.dumps(
        {"type": "record", "name": "Broken", "fields": [{"name": "x", "type": "nosuchtype"}]}
    )
    bad_decimal = json.dumps({"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 5})
    for text in (unknown_field_type, bad_decimal, "{not json", json.dumps({"type": "nosuchtype"})):
        error = registry_error(client.register_schema, "bad-value", Schema(text, "AVRO"))
        assert (error.http_status_code, error.error_code) == (422, 42201)
    assert client.get_subjects() == []


def test_delete_subject_keeps_ids_resolvable(client: SchemaRegistryClient, registry: LocalSchemaRegistry) -> None:
    schema_id = client.register_schema("users-value", Schema(USER_V1, "AVRO"))
    assert client.delete_subject("users-value") == [1]
    assert client.get_subjects() == []
    assert SchemaRegistryClient({"url": registry.url}).get_schema(schema_id).schema_str == USER_V1


def test_compatibility_config_defaults_to_backward_and_echoes(client: SchemaRegistryClient) -> None:
    assert client.get_compatibility() == "BACKWARD"
    assert client.set_compatibility(level="full") == {"compatibility": "FULL"}
    assert client.get_compatibility() == "FULL"
    client.set_compatibility("users-value", "NONE")
    assert client.get_compatibility("users-value") == "NONE"
    # a subject without its own level answers 40408, as Confluent's does (defaultToGlobal: see test_registry_compat)
    assert registry_error(client.get_compatibility, "other-value").error_code == 40408
    assert registry_error(client.set_compatibility, level="SIDEWAYS").error_code == 42203


def test_state_survives_restart(tmp_path: Path) -> None:
    with LocalSchemaRegistry(data_dir=tmp_path) as first:
        client = SchemaRegistryClient({"url": first.url})
        client.register_schema("users-value", Schema(USER_V1, "AVRO"))
        client.register_schema("users-value", Schema(USER_V2, "AVRO"))
        client.set_compatibility(level="FORWARD")
        guid = client.get_latest_version("users-value").guid
    assert (tmp_path / "registry.json").exists()
    with LocalSchemaRegistry(data_dir=tmp_path) as second:
        client = SchemaRegistryClient({"url": second.url})
        assert client.get_versions("users-value") == [1, 2]
        assert client.get_schema(2).schema_str == USER_V2
        assert client.get_latest_version("users-value").guid == guid
        assert client.get_compatibility() == "FORWARD"
        # ids keep counting from where they were
        assert client.register_schema("other-value", Schema(PAYMENT, "AVRO")) == 3


def test_corrupt_state_file_is_a_configregistry_error(tmp_path: Path) -> None:
    (tmp_path / "registry.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"registry\.json"):
        LocalSchemaRegistry(data_dir=tmp_path).start()


def test_plain_http_surface(registry: LocalSchemaRegistry) -> None:
    with urllib.request.urlopen(f"{registry.url}/") as response:
        assert response.headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
        assert json.load(response) == {}
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{registry.url}/subjects/x%2Fy/versions/latest")
    assert caught.value.code == 404
    assert json.load(caught.value) == {"error_code": 40401, "message": "Subject 'x/y' not found."}


@pytest.mark.parametrize("id_serializer", [None, header_schema_id_serializer], ids=["prefix-id", "header-guid"])
def test_avro_round_trip_with_decimal_timestamp_and_record_union(
    registry: LocalSchemaRegistry,
    id_serializer: Callable[..., bytes] | None,
) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    conf = {"schema.id.serializer": id_serializer} if id_serializer else None
    serializer = AvroSerializer(client, PAYMENT, conf=conf)
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))  # cold cache
    when = datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
    events = [
        {"amount": Decimal("1234567890123456.78"), "occurred_at": when, "payload": {"card_last4": "4242"}},
        {"amount": Decimal("-0.05"), "occurred_at": when, "payload": {"iban": "HT12", "instant": True}},
    ]
    for event in events:
        headers: list = []
        ctx = SerializationContext("payments", MessageField.VALUE, headers)
        data = serializer(event, ctx)
        assert data is not None
        assert deserializer(data, SerializationContext("payments", MessageField.VALUE, headers)) == event
    assert client.get_subjects() == ["payments-value"]


def test_serve_forever_prints_url_and_exits_on_sigterm(tmp_path: Path) -> None:
    code = f"from producer.embedded.registry import serve_forever; serve_forever('127.0.0.1', 0, {str(tmp_path)!r})"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3]
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("schema registry listening on http://127.0.0.1:")
        assert f"data_dir={tmp_path}" in line
        url = line.split()[4]
        with urllib.request.urlopen(f"{url}/subjects") as response:
            assert json.load(response) == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_responses_leave_without_waiting_for_the_clients_ack(monkeypatch, client) -> None:
    """The registry's sockets have Nagle off: headers and body are two writes, and with Nagle on the body
    waited for the client's delayed ACK (40 ms on Linux), so each keep-alive request took ~44 ms and a
    run's schema registrations cost a second of start-up. Checked on the server's socket of a real request.
    """
    import socket

    from producer.embedded import registry as registry_module

    seen: list[int] = []
    setup = registry_module._Handler.setup

    def recording(self) -> None:  # type: ignore[no-untyped-def]
        setup(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(registry_module._Handler, "setup", recording)
    client.get_subjects()
    assert seen and all(seen)
