"""JSON encoding of events: one compact JSON object per event, stable key order."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


def json_default(value: Any) -> Any:
    """JSON form of the values events carry: instants as ISO-8601, money as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, tuple):  # Avro union tuple notation: (record name, record)
        return value[1]
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False)


def to_json(value: dict[str, Any]) -> str:
    """One event value as a compact JSON string."""
    return _ENCODER.encode(value)


def encode_json(value: dict[str, Any]) -> bytes:
    """One event value as compact UTF-8 JSON bytes."""
    return _ENCODER.encode(value).encode("utf-8")
