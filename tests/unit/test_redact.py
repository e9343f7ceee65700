"""Secrets stay out of printed text: URL userinfo, secret-looking settings, malformed -X arguments."""

from __future__ import annotations

import pytest

from producer.redact import is_secret_key, redact_conf, redact_flag, redact_values, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:SECRET@registry:8081", "http://registry:8081"),
        ("https://user:SECRET@registry:8081/base/path", "https://registry:8081/base/path"),
        ("http://user:p@ss:SECRET@host", "http://host"),  # an unencoded @ in the password
        ("http://user:pa,SECRET@host:1", "http://host:1"),  # a comma in the password
        ("http://a:SECRET@h1:1,http://b:SECRET@h2:2", "http://h1:1,http://h2:2"),  # a registry list
        ("user:SECRET@broker:9092,broker2:9092", "broker:9092,broker2:9092"),
        ("SASL_SSL://broker:9093,broker2:9093", "SASL_SSL://broker:9093,broker2:9093"),
        ("http://registry:8081/subjects/a@b", "http://registry:8081/subjects/a@b"),  # @ in the path is not userinfo
        ("127.0.0.1:9092", "127.0.0.1:9092"),
    ],
)
def test_safe_url_drops_userinfo_and_keeps_the_rest(url, shown):
    assert safe_url(url) == shown
    assert "SECRET" not in safe_url(url)


def test_safe_url_inside_a_sentence():
    text = "schema registry http://user:SECRET@127.0.0.1:8081 unreachable: refused"
    assert safe_url(text) == "schema registry http://127.0.0.1:8081 unreachable: refused"


@pytest.mark.parametrize(
    "key",
    [
        "sasl.password",
        "ssl.key.password",
        "ssl.key.pem",
        "sasl.oauthbearer.client.secret",
        "sasl.jaas.config",
        "sasl.oauthbearer.config",
        "basic.auth.user.info",
        "schema.registry.basic.auth.user.info",
        "bearer.auth.token",
        "SASL.PASSWORD",
    ],
)
def test_secret_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["bootstrap.servers", "linger.ms", "acks", "sasl.username", "security.protocol"])
def test_plain_keys(key):
    assert not is_secret_key(key)


def test_redact_conf_hides_secret_values_and_url_credentials():
    conf = {"sasl.password": "SECRET", "bootstrap.servers": "u:SECRET@b:9092", "linger.ms": 20}
    assert redact_conf(conf) == {"sasl.password": "***", "bootstrap.servers": "b:9092", "linger.ms": 20}


def test_redact_values_hides_every_secret_in_a_library_message():
    conf = {"sasl.oauthbearer.method": "SECRETLONG", "ssl.key.password": "SECRET", "acks": "all"}
    message = 'Invalid value "SECRETLONG" for configuration property "sasl.oauthbearer.method" (all, SECRET)'
    assert redact_values(message, conf) == (
        'Invalid value "***" for configuration property "sasl.oauthbearer.method" (all, ***)'
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("sasl.password:SECRET", "sasl.password:***"),
        ("sasl.jaas.config SECRET", "sasl.jaas.config ***"),
        ("=SECRET", "=***"),  # no key: the value cannot be judged, so it is hidden
        ("linger.ms:20", "linger.ms:20"),  # nothing secret: shown as typed, to see the mistake
        ("novalue", "novalue"),
    ],
)
def test_redact_flag(text, shown):
    assert redact_flag(text) == shown
