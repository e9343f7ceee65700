"""The -X settings: split between librdkafka and the schema registry client, and checked offline before a run starts."""

from __future__ import annotations

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


def check_client_conf(conf: dict[str, str], registry_url: str | None, consumer: bool = False) -> None:
    """Check every -X setting offline (librdkafka's, then the registry client's); UsageError on the first bad one."""
    from confluent_kafka import Consumer

    from producer.sinks.kafka import check_conf, check_producer_overrides

    if consumer:
        check_conf({"group.id": "datagen-check", **kafka_part(conf)}, Consumer)
    else:
        check_producer_overrides(kafka_part(conf))
    check_registry_conf(registry_url, registry_part(conf))
