"""Compatibility levels of the local schema registry, driven through confluent-kafka's own client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from producer.embedded.registry import LocalSchemaRegistry
from tests.unit.embedded.helpers import registry_error


def _user(*extra: dict[str, Any], id_type: str = "string") -> Schema:
    fields = [{"name": "id", "type": id_type}, *extra]
    return Schema(json.dumps({"type": "record", "name": "User", "namespace": "datagen.test", "fields": fields}), "AVRO")


V1 = _user()
REQUIRED_AGE = _user({"name": "age", "type": "int"})  # new field, no default: old data lacks it
OPTIONAL_AGE = _user({"name": "age", "type": ["null", "int"], "default": None})
AGE_WITH_DEFAULT = _user({"name": "age", "type": "int", "default": 0})
WITH_NAME = _user({"name": "name", "type": "string"})


def _http(registry: LocalSchemaRegistry, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Raw HTTP for what the client does not expose (verbose bodies, defaultToGlobal)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{registry.url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _rejected(client: SchemaRegistryClient, subject: str, schema: Schema) -> SchemaRegistryError:
    error = registry_error(client.register_schema, subject, schema)
    assert (error.http_status_code, error.error_code) == (409, 409)
    return error


def test_backward_rejects_required_field_with_409_and_none_accepts_it(client: SchemaRegistryClient) -> None:
    assert client.get_compatibility() == "BACKWARD"
    client.register_schema("users-value", V1)
    error = _rejected(client, "users-value", REQUIRED_AGE)
    assert 'incompatible with an earlier schema for subject "users-value"' in error.error_message
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in error.error_message
    assert client.get_versions("users-value") == [1]
    client.set_compatibility("users-value", "NONE")
    assert client.register_schema("users-value", REQUIRED_AGE) == 2
    assert client.get_versions("users-value") == [1, 2]


def test_backward_accepts_new_field_with_default(client: SchemaRegistryClient) -> None:
    client.register_schema("users-value", V1)
    assert client.register_schema("users-value", OPTIONAL_AGE) == 2
    # re-registering a known schema answers its id without any check, even an older version
    assert client.register_schema("users-value", V1) == 1
    assert client.get_versions("users-value") == [1, 2]


def test_unrelated_schema_is_rejected_under_backward(client: SchemaRegistryClient) -> None:
    client.register_schema("users-value", V1)
    unrelated = Schema(
        json.dumps({"type": "record", "name": "Invoice", "fields": [{"name": "n", "type": "long"}]}), "AVRO"
    )
    assert "NAME_MISMATCH" in _rejected(client, "users-value", unrelated).error_message
    assert "TYPE_MISMATCH" in _rejected(client, "users-value", _user(id_type="long")).error_message


def test_forward_checks_that_the_old_schema_reads_new_data(client: SchemaRegistryClient) -> None:
    client.set_compatibility("users-value", "FORWARD")
    client.register_schema("users-value", WITH_NAME)
    _rejected(client, "users-value", V1)  # dropping 'name': v1 readers need it and have no default
    assert (
        client.register_schema("users-value", _user({"name": "name", "type": "string"}, {"name": "age", "type": "int"}))
        == 2
    )


def test_full_needs_both_directions(client: SchemaRegistryClient) -> None:
    client.set_compatibility("users-value", "FULL")
    client.register_schema("users-value", V1)
    _rejected(client, "users-value", REQUIRED_AGE)  # forward holds, backward does not
    assert client.register_schema("users-value", OPTIONAL_AGE) == 2
    _rejected(client, "users-value", WITH_NAME)


def test_transitive_checks_every_live_version_not_only_the_latest(client: SchemaRegistryClient) -> None:
    client.register_schema("plain-value", V1)
    client.register_schema("plain-value", AGE_WITH_DEFAULT)
    assert client.register_schema("plain-value", REQUIRED_AGE) == 3  # BACKWARD: v2 has 'age'
    client.set_compatibility("strict-value", "BACKWARD_TRANSITIVE")
    client.register_schema("strict-value", V1)
    client.register_schema("strict-value", AGE_WITH_DEFAULT)
    error = _rejected(client, "strict-value", REQUIRED_AGE)  # v1 has no 'age'
    assert "{oldSchemaVersion: 1}" in error.error_message
    assert "compatibility: 'BACKWARD_TRANSITIVE'" in error.error_message
    email = {"name": "email", "type": ["null", "string"], "default": None}
    accepted = _user({"name": "age", "type": "int", "default": 0}, email)
    client.register_schema("strict-value", accepted)
    assert client.get_versions("strict-value") == [1, 2, 3]


def test_test_compatibility_answers_true_and_false(client: SchemaRegistryClient) -> None:
    assert client.test_compatibility("nobody-value", REQUIRED_AGE) is True  # nothing to be compatible with
    client.register_schema("users-value", V1)
    client.register_schema("users-value", AGE_WITH_DEFAULT)
    assert client.test_compatibility("users-value", OPTIONAL_AGE) is True
    assert client.test_compatibility("users-value", REQUIRED_AGE, version=1) is False
    assert client.test_compatibility("users-value", REQUIRED_AGE, version="latest") is True
    assert client.test_compatibility_all_versions("users-value", REQUIRED_AGE) is True  # BACKWARD: latest only
    client.set_compatibility("users-value", "BACKWARD_TRANSITIVE")
    assert client.test_compatibility_all_versions("users-value", REQUIRED_AGE) is False
    missing = registry_error(client.test_compatibility, "users-value", V1, version=9)
    assert (missing.http_status_code, missing.error_code) == (404, 40402)
    assert registry_error(client.test_compatibility, "users-value", V1, version="first").error_code == 42202


def test_verbose_compatibility_explains_like_confluent(
    registry: LocalSchemaRegistry, client: SchemaRegistryClient
) -> None:
    client.register_schema("users-value", V1)
    path = "/compatibility/subjects/users-value/versions/latest"
    status, body = _http(registry, "POST", f"{path}?verbose=true", {"schema": REQUIRED_AGE.schema_str})
    assert status == 200 and body["is_compatible"] is False
    assert body["messages"][0] == (
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'age' at path '/fields/1' "
        "in the new schema has no default value and is missing in the old schema', additionalInfo:'age'}"
    )
    assert body["messages"][1] == "{oldSchemaVersion: 1}"
    assert body["messages"][2] == f"{{oldSchema: '{json.dumps(json.loads(V1.schema_str), separators=(',', ':'))}'}}"
    assert body["messages"][3] == "{validateFields: 'false', compatibility: 'BACKWARD'}"
    assert _http(registry, "POST", path, {"schema": REQUIRED_AGE.schema_str}) == (200, {"is_compatible": False})
    status, body = _http(registry, "POST", f"{path}?verbose=true", {"schema": OPTIONAL_AGE.schema_str})
    assert (status, body) == (200, {"is_compatible": True, "messages": []})
    # an invalid schema is a 42201, or an explained "no" when verbose
    assert _http(registry, "POST", path, {"schema": "{broken"})[1]["error_code"] == 42201
    status, body = _http(registry, "POST", f"{path}?verbose=true", {"schema": "{broken"})
    assert status == 200 and body["is_compatible"] is False and "Invalid schema" in body["messages"][0]


def test_subject_level_overrides_global_and_config_endpoints(
    registry: LocalSchemaRegistry, client: SchemaRegistryClient
) -> None:
    assert client.set_compatibility("users-value", "none") == {"compatibility": "NONE"}
    assert client.get_compatibility("users-value") == "NONE"
    unset = registry_error(client.get_compatibility, "other-value")
    assert (unset.http_status_code, unset.error_code) == (404, 40408)
    assert _http(registry, "GET", "/config/other-value?defaultToGlobal=true") == (
        200,
        {"compatibilityLevel": "BACKWARD"},
    )
    client.register_schema("users-value", V1)
    assert client.register_schema("users-value", REQUIRED_AGE) == 2  # NONE wins over global BACKWARD
    assert _http(registry, "DELETE", "/config/users-value") == (200, {"compatibilityLevel": "NONE"})
    assert registry_error(client.get_compatibility, "users-value").error_code == 40408
    assert _http(registry, "DELETE", "/config/users-value")[1]["error_code"] == 40401
    _rejected(client, "users-value", _user({"name": "age", "type": "int"}, {"name": "zip", "type": "int"}))
    assert registry_error(client.set_compatibility, "users-value", "SIDEWAYS").error_code == 42203
    client.set_compatibility(level="NONE")
    assert _http(registry, "DELETE", "/config") == (200, {"compatibilityLevel": "NONE"})
    assert client.get_compatibility() == "BACKWARD"


def test_references_are_resolved_for_the_check(client: SchemaRegistryClient) -> None:
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "datagen.test",
        "fields": [{"name": "city", "type": "string"}],
    }
    client.register_schema("address-value", Schema(json.dumps(address), "AVRO"))
    refs = [SchemaReference("datagen.test.Address", "address-value", 1)]

    def customer(*extra: dict[str, Any]) -> Schema:
        fields = [{"name": "home", "type": "datagen.test.Address"}, *extra]
        text = json.dumps({"type": "record", "name": "Customer", "namespace": "datagen.test", "fields": fields})
        return Schema(text, "AVRO", references=refs)

    client.register_schema("customers-value", customer())
    _rejected(client, "customers-value", customer({"name": "vip", "type": "boolean"}))
    client.register_schema("customers-value", customer({"name": "vip", "type": "boolean", "default": False}))
    assert client.get_versions("customers-value") == [1, 2]
