"""The -X settings: split between librdkafka and the schema registry client, and checked offline before a run starts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from producer.errors import UsageError
from producer.redact import redact_values

REGISTRY_PREFIX = "schema.registry."
# registry client settings that must be numbers (-X gives strings; the client rejects them by type)
_REGISTRY_NUMBERS = (
    "timeout",
    "cache.capacity",
    "cache.latest.ttl.sec",
    "max.retries",
    "retries.wait.ms",
    "retries.max.wait.ms",
)
# checks keys when the registry URL is known only later (the embedded stack's); never contacted
PLACEHOLDER_URL = "http://localhost"


def _number(text: str) -> Any:
    """`text` as an int or float if it is one, else unchanged (and left for the client to reject)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def kafka_part(conf: dict[str, str]) -> dict[str, str]:
    """The -X settings for librdkafka (everything not prefixed schema.registry.)."""
    return {k: v for k, v in conf.items() if not k.startswith(REGISTRY_PREFIX)}


def registry_part(conf: dict[str, str]) -> dict[str, Any]:
    """The -X schema.registry.* settings, prefix removed and numeric settings as numbers."""
    part = {k[len(REGISTRY_PREFIX) :]: v for k, v in conf.items() if k.startswith(REGISTRY_PREFIX)}
    return {k: _number(v) if k in _REGISTRY_NUMBERS and isinstance(v, str) else v for k, v in part.items()}


def check_registry_conf(url: str | None, conf: dict[str, Any]) -> None:
    """Reject what SchemaRegistryClient rejects in `conf` (a UsageError), without contacting the registry."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    try:
        SchemaRegistryClient({"url": url or PLACEHOLDER_URL, **conf})
    except (ValueError, TypeError, OSError) as exc:  # OSError: unreadable ssl.* files
        message = redact_values(str(exc), {"url": "", **conf})
        source = "--schema-registry-url" if message.startswith("Invalid url") else f"-X {REGISTRY_PREFIX}*"
        raise UsageError(f"{source}: expected settings the schema registry client accepts, found {message}") from exc


def check_client_conf(
    conf: dict[str, str], registry_url: str | None, consumer: bool = False, sources: Mapping[str, str] | None = None
) -> None:
    """Check every -X setting offline (librdkafka's, then the registry client's); UsageError on the first bad one.

    `sources` names where properties not given by -X came from (a DATAGEN_KAFKA_* variable, a config
    file key): the error then names the layer whose properties made the configuration invalid.
    """
    try:
        _check(conf, registry_url, consumer)
    except UsageError as exc:
        if not sources:
            raise
        raise _blame(exc, conf, registry_url, consumer, sources) from exc


def _check(conf: dict[str, str], registry_url: str | None, consumer: bool) -> None:
    from confluent_kafka import Consumer

    from producer.sinks.kafka import check_conf, check_producer_overrides

    if consumer:
        check_conf({"group.id": "datagen-check", **kafka_part(conf)}, Consumer)
    else:
        check_producer_overrides(kafka_part(conf))
    check_registry_conf(registry_url, registry_part(conf))


def _blame(
    error: UsageError, conf: dict[str, str], registry_url: str | None, consumer: bool, sources: Mapping[str, str]
) -> UsageError:
    """The error named after where the property it names came from, else after the layer that broke `conf`.

    Without a property named (librdkafka may name an alias: linger.ms as queue.buffering.max.ms),
    layers are added in precedence order (file, variables, -X) and checked together, as a property
    may need another one from a lower layer (acks=1 needs enable.idempotence=false); the first layer
    that gives the same error is blamed.
    """
    named = _named_property(str(error), conf)
    if named is not None:
        return _renamed(error, sources[named]) if named in sources else error
    from producer.settings import KAFKA_VARIABLE_PREFIX

    variables = {key for key, label in sources.items() if label.startswith(KAFKA_VARIABLE_PREFIX)}
    from_file = set(sources) - variables
    problem = str(error).partition(": ")[2]
    checked: dict[str, str] = {}
    for layer in (from_file, variables):
        present = [key for key in layer if key in conf]
        checked |= {key: conf[key] for key in present}
        try:
            _check(checked, registry_url, consumer)
        except UsageError as inner:
            if present and str(inner).partition(": ")[2] == problem:  # not a gap a higher layer fills (a password)
                return _renamed(error, _layer_label([sources[key] for key in present]))
    return error  # -X made it invalid: the message names -X already


def _named_property(message: str, conf: dict[str, str]) -> str | None:
    """The property of `conf` that `message` names first (registry ones also without their prefix)."""
    found: list[tuple[int, int, str]] = []
    for key in conf:
        for name in {key, key.removeprefix(REGISTRY_PREFIX)}:
            match = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", message)
            if match:
                found.append((match.start(), -len(name), key))  # ssl.key.pem, not ssl.key, at one place
    return min(found)[2] if found else None


def _layer_label(labels: list[str]) -> str:
    """One property's label, else the layer's: the config file, or the DATAGEN_KAFKA_* variables."""
    if len(labels) == 1:
        return labels[0]
    return labels[0].rpartition(": ")[0] or "DATAGEN_KAFKA_* variables"


def _renamed(error: UsageError, label: str) -> UsageError:
    """`-X...: expected ..., found ...` with its source replaced by `label`."""
    return UsageError(f"{label}: {str(error).partition(': ')[2]}")
