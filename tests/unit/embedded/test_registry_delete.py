"""Soft and permanent deletes, listings and references of the local schema registry, as Confluent's."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from producer.embedded.registry import LocalSchemaRegistry


def _user(id_type: str = "string", *extra: dict[str, Any]) -> Schema:
    fields = [{"name": "id", "type": id_type}, *extra]
    return Schema(json.dumps({"type": "record", "name": "User", "namespace": "datagen.test", "fields": fields}), "AVRO")


V1 = _user()
V2 = _user("string", {"name": "age", "type": ["null", "int"], "default": None})
ADDRESS = Schema(
    json.dumps(
        {
            "type": "record",
            "name": "Address",
            "namespace": "datagen.test",
            "fields": [{"name": "city", "type": "string"}],
        }
    ),
    "AVRO",
)


def _code(call, *args, **kwargs) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args, **kwargs)
    return caught.value.http_status_code, caught.value.error_code


def _get(registry: LocalSchemaRegistry, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"{registry.url}{path}") as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.load(exc)


def test_version_soft_delete_then_permanent(client: SchemaRegistryClient) -> None:
    client.register_schema("users-value", V1)
    client.register_schema("users-value", V2)
    assert client.delete_version("users-value", 2) == 2
    assert client.get_versions("users-value") == [1]
    assert client.get_versions("users-value", deleted=True) == [1, 2]
    assert client.get_versions("users-value", deleted_only=True) == [2]
    assert _code(client.get_version, "users-value", 2) == (404, 40402)
    assert client.get_version("users-value", 2, deleted=True).schema_id == 2
    assert client.get_latest_version("users-value").version == 1
    assert _code(client.delete_version, "users-value", 2) == (404, 40406)
    assert _code(client.delete_version, "users-value", 1, permanent=True) == (404, 40407)
    assert client.delete_version("users-value", 2, permanent=True) == 2
    assert client.get_versions("users-value", deleted=True) == [1]
    assert _code(client.delete_version, "users-value", 2, permanent=True) == (404, 40402)
    assert _code(client.delete_version, "nobody-value", 1) == (404, 40401)


def test_soft_deleted_versions_leave_the_check_and_numbering_goes_on(client: SchemaRegistryClient) -> None:
    client.set_compatibility("users-value", "NONE")
    client.register_schema("users-value", V1)
    client.register_schema("users-value", _user("long"))
    client.set_compatibility("users-value", "BACKWARD")
    assert _code(client.register_schema, "users-value", V2) == (409, 409)  # string cannot read long
    client.delete_version("users-value", 2)
    client.register_schema("users-value", V2)  # now checked against v1 only
    assert client.get_versions("users-value") == [1, 3]


def test_subject_soft_delete_then_permanent(registry: LocalSchemaRegistry, client: SchemaRegistryClient) -> None:
    schema_id = client.register_schema("users-value", V1)
    client.register_schema("users-value", V2)
    client.set_compatibility("users-value", "NONE")
    assert _code(client.delete_subject, "users-value", permanent=True) == (404, 40405)
    assert client.delete_subject("users-value") == [1, 2]
    assert client.get_subjects() == []
    assert client.get_subjects(deleted=True) == ["users-value"]
    assert _code(client.get_versions, "users-value") == (404, 40401)
    assert client.get_versions("users-value", deleted=True) == [1, 2]
    assert _code(client.delete_subject, "users-value") == (404, 40404)
    assert _code(client.get_compatibility, "users-value") == (404, 40408)  # the subject's level goes too
    fresh = SchemaRegistryClient({"url": registry.url})
    assert fresh.get_schema(schema_id).schema_str == V1.schema_str  # ids resolve while soft-deleted
    assert client.delete_subject("users-value", permanent=True) == [1, 2]
    assert client.get_subjects(deleted=True) == []
    assert _code(SchemaRegistryClient({"url": registry.url}).get_schema, schema_id) == (404, 40403)
    assert _code(client.delete_subject, "users-value") == (404, 40401)
    # the same schema comes back under its old id, as a first version
    assert client.register_schema("users-value", V1) == schema_id
    assert client.get_versions("users-value") == [1]


def test_get_schemas_lists_subject_versions(registry: LocalSchemaRegistry, client: SchemaRegistryClient) -> None:
    client.register_schema("b-value", V1)
    client.register_schema("a-value", V1)
    client.register_schema("a-value", V2)
    client.delete_version("a-value", 2)
    listed = _get(registry, "/schemas")
    assert [(s["subject"], s["version"], s["id"]) for s in listed] == [("a-value", 1, 1), ("b-value", 1, 1)]
    assert listed[0]["schema"] == V1.schema_str
    with_deleted = _get(registry, "/schemas?deleted=true")
    assert [(s["subject"], s["version"]) for s in with_deleted] == [("a-value", 1), ("a-value", 2), ("b-value", 1)]
    latest = _get(registry, "/schemas?deleted=true&latestOnly=true&subjectPrefix=a")
    assert [(s["subject"], s["version"]) for s in latest] == [("a-value", 2)]
    assert [s["subject"] for s in _get(registry, "/schemas?offset=1&limit=1")] == ["b-value"]


def test_referencedby_and_referenced_versions_cannot_be_deleted(
    registry: LocalSchemaRegistry, client: SchemaRegistryClient
) -> None:
    client.register_schema("address-value", ADDRESS)
    customer = Schema(
        json.dumps(
            {
                "type": "record",
                "name": "Customer",
                "namespace": "datagen.test",
                "fields": [{"name": "home", "type": "datagen.test.Address"}],
            }
        ),
        "AVRO",
        references=[SchemaReference("datagen.test.Address", "address-value", 1)],
    )
    customer_id = client.register_schema("customers-value", customer)
    assert client.get_referenced_by("address-value", 1) == [customer_id]
    assert client.get_referenced_by("address-value") == [customer_id]  # latest
    assert _get(registry, "/subjects/address-value/versions/2/referencedby")["error_code"] == 40402
    assert _code(client.delete_version, "address-value", 1) == (422, 42206)
    assert _code(client.delete_subject, "address-value") == (422, 42206)
    client.delete_subject("customers-value")  # a soft-deleted referrer no longer holds it
    assert client.get_referenced_by("address-value", 1) == []
    assert client.delete_version("address-value", 1) == 1


def test_deleted_flags_survive_restart_and_old_state_files_load(tmp_path: Path) -> None:
    # a state file written before soft deletes existed: entries have no "deleted" field
    old_state = {
        "next_id": 2,
        "compatibility": "BACKWARD",
        "subject_compatibility": {},
        "schemas": {
            "1": {
                "schema": V1.schema_str,
                "schemaType": "AVRO",
                "references": [],
                "guid": "7c0b7d8e-0000-4000-8000-000000000001",
            }
        },
        "subjects": {"users-value": [{"version": 1, "id": 1}]},
    }
    (tmp_path / "registry.json").write_text(json.dumps(old_state))
    with LocalSchemaRegistry(data_dir=tmp_path) as first:
        client = SchemaRegistryClient({"url": first.url})
        assert client.get_versions("users-value") == [1]
        assert _code(client.register_schema, "users-value", _user("long")) == (409, 409)
        assert client.register_schema("users-value", V2) == 2
        client.delete_version("users-value", 1)
    with LocalSchemaRegistry(data_dir=tmp_path) as second:
        client = SchemaRegistryClient({"url": second.url})
        assert client.get_versions("users-value") == [2]
        assert client.get_versions("users-value", deleted=True) == [1, 2]
