"""Access to the Avro schemas shipped under schemas/ (package data in a wheel)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from producer._data import bundled_dir
from producer.errors import DatagenError

TRUTH_RECORD = "datagen.Truth"
GROUND_TRUTH_SCHEMA = "common/ground_truth.avsc"


def schemas_dir() -> Path:
    """The schemas folder: $DATAGEN_SCHEMAS_DIR, else the one datagen ships (package data or checkout)."""
    override = os.environ.get("DATAGEN_SCHEMAS_DIR")
    if override:
        return Path(override)
    shipped = bundled_dir("schemas")
    if shipped.is_dir():
        return shipped
    raise DatagenError(f"cannot find the schemas folder (looked in {shipped}); set DATAGEN_SCHEMAS_DIR")


@cache
def schema_text(relative: str) -> str:
    """The JSON text of one schema file, normalised (compact, key order kept)."""
    path = schemas_dir() / relative
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"))


def schema_dict(relative: str) -> dict[str, Any]:
    """One schema file as a fresh dict."""
    return json.loads(schema_text(relative))
