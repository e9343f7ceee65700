"""-X settings are checked by librdkafka and the registry client themselves, offline, secrets hidden."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from producer.client_conf import check_client_conf, check_registry_conf, kafka_part, registry_part
from producer.errors import UsageError


def test_split_between_librdkafka_and_the_registry_client():
    conf = {"linger.ms": "5", "schema.registry.max.retries": "2", "schema.registry.basic.auth.user.info": "a:b"}
    assert kafka_part(conf) == {"linger.ms": "5"}
    # numbers become numbers: the registry client rejects "2" by type
    assert registry_part(conf) == {"max.retries": 2, "basic.auth.user.info": "a:b"}
    check_registry_conf(None, registry_part(conf))


@pytest.mark.parametrize("consumer", [False, True])
def test_unknown_librdkafka_property_is_a_usage_error(consumer):
    with pytest.raises(UsageError, match=r'^-X: expected valid librdkafka properties, found .*"foo\.bar"'):
        check_client_conf({"foo.bar": "1"}, None, consumer=consumer)


def test_producer_defaults_are_checked_with_the_overrides():
    # enable.idempotence (a default) needs acks=all: librdkafka refuses the combination as the sink would use it
    with pytest.raises(UsageError, match="acks"):
        check_client_conf({"acks": "1"}, None)


def test_librdkafka_error_never_echoes_a_secret_value():
    with pytest.raises(UsageError) as info:
        check_client_conf({"sasl.oauthbearer.method": "SECRETVALUE"}, None)
    assert "SECRETVALUE" not in str(info.value) and '"***"' in str(info.value)


def test_unknown_registry_setting_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^-X schema\.registry\.\*: expected .*Unrecognized properties: foo"):
        check_client_conf({"schema.registry.foo": "1"}, "http://127.0.0.1:1")


def test_registry_error_never_echoes_url_credentials():
    with pytest.raises(UsageError) as info:
        check_registry_conf("ftp://user:SECRET@registry:8081", {})
    assert str(info.value).startswith("--schema-registry-url:") and "SECRET" not in str(info.value)


@pytest.fixture
def token_endpoint() -> Iterator[socket.socket]:
    """A listening socket standing in for an OIDC token endpoint."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(1.0)
        yield listener


@pytest.mark.parametrize("consumer", [False, True])
def test_check_opens_no_connection_even_for_oidc(token_endpoint, consumer):
    port = token_endpoint.getsockname()[1]
    conf = {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": "datagen",
        "sasl.oauthbearer.client.secret": "SECRET",
        "sasl.oauthbearer.token.endpoint.url": f"http://127.0.0.1:{port}/token",
    }
    check_client_conf(conf, None, consumer=consumer)
    with pytest.raises(TimeoutError):  # nobody came for a token
        token_endpoint.accept()[0].close()


def test_oidc_settings_are_still_checked():
    conf = {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc"}
    with pytest.raises(UsageError, match="is mandatory when"):
        check_client_conf(conf, None)
