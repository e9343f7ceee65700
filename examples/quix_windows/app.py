"""A Quix Streams application: datagen's `oracle:` tumbling window, computed by a real stream processor.

It consumes one datagen topic (Avro through the schema registry, or JSON lines), counts the
records and sums one numeric field per record key in tumbling event-time windows with a grace
period, and writes each window `.final()` closes as one JSON line to --out. Compare those lines
with datagen's `<prefix>expected` topic (docs/oracle.md); tests/integration/test_oracle_quix.py
does. It runs in its own venv (quixstreams pins an older confluent-kafka than datagen):

    python scripts/quix_env.py            # prints the venv's python
    ~/.cache/datagen/quix-venv/bin/python examples/quix_windows/app.py \\
        --bootstrap-servers localhost:9092 --schema-registry-url http://localhost:8081 \\
        --topic fintech.transactions --window-ms 60000 --grace-ms 10000 --sum payload.amount \\
        --out quix-windows.jsonl --idle-timeout 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from decimal import Decimal
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum
from quixstreams.models.serializers.avro import AvroDeserializer
from quixstreams.models.serializers.schema_registry import SchemaRegistryClientConfig
from quixstreams.state.rocksdb import RocksDBOptions

DECIMAL_TAG = "$decimal"


def state_dumps(value: Any) -> bytes:
    """Window state as JSON, Decimals as tagged strings: money sums stay exact (orjson refuses Decimal)."""
    return json.dumps(value, default=lambda d: {DECIMAL_TAG: str(d)}).encode()


def state_loads(data: bytes) -> Any:
    """The inverse of state_dumps (floats round-trip: json writes their shortest repr)."""
    return json.loads(data, object_hook=lambda o: Decimal(o[DECIMAL_TAG]) if DECIMAL_TAG in o else o)


def field(value: dict[str, Any], path: list[str], json_lines: bool) -> Any:
    """The summed field of one event, or None where it has none (Quix's Sum then adds nothing)."""
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if json_lines and isinstance(value, str):
        return Decimal(value)  # datagen writes decimals (money) as strings in JSON
    return value


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--schema-registry-url", help="Avro values via the registry (else JSON lines)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--window-ms", type=int, required=True)
    parser.add_argument("--grace-ms", type=int, default=0)
    parser.add_argument("--sum", default=None, help="dotted path of the summed field, e.g. payload.amount")
    parser.add_argument("--out", required=True, help="JSON-lines file of the closed windows")
    parser.add_argument("--idle-timeout", type=float, default=10.0, help="stop after this long without messages")
    parser.add_argument("--consumer-group", default=f"quix-windows-{uuid.uuid4().hex[:8]}")
    return parser.parse_args()


def main() -> None:
    """Run the window until the topic has been idle for --idle-timeout seconds."""
    args = parse_args()
    json_lines = args.schema_registry_url is None
    path = args.sum.split(".") if args.sum else []
    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=args.consumer_group,
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="quix-state-"),
        use_changelog_topics=False,  # a one-off run: no state to recover
        rocksdb_options=RocksDBOptions(dumps=state_dumps, loads=state_loads),
    )
    if json_lines:
        deserializer: Any = "json"
    else:
        registry = SchemaRegistryClientConfig(url=args.schema_registry_url)
        deserializer = AvroDeserializer(schema_registry_client_config=registry)
    topic = app.topic(args.topic, key_deserializer="str", value_deserializer=deserializer)
    sdf = app.dataframe(topic)
    sdf = sdf.apply(lambda value: {"value": field(value, path, json_lines) if path else None})
    window = sdf.tumbling_window(duration_ms=args.window_ms, grace_ms=args.grace_ms)
    sdf = window.agg(count=Count(), sum=Sum("value")).final()  # closing_strategy="key", the default

    with open(args.out, "w", encoding="utf-8") as out:

        def write(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> None:
            line = {
                "group": key,
                "window_start": value["start"],
                "window_end": value["end"],
                "count": value["count"],
                "sum": str(value["sum"]) if path else None,
            }
            out.write(json.dumps(line) + "\n")
            out.flush()

        sdf.update(write, metadata=True)
        app.run(timeout=args.idle_timeout, collect=False)


if __name__ == "__main__":
    main()
