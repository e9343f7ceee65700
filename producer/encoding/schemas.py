"""Access to the Avro schemas shipped under schemas/."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from producer.errors import DatagenError

TRUTH_RECORD = "datagen.Truth"
GROUND_TRUTH_SCHEMA = "common/ground_truth.avsc"


def schemas_dir() -> Path:
    """The schemas folder: $DATAGEN_SCHEMAS_DIR, else the one beside the package."""
    override = os.environ.get("DATAGEN_SCHEMAS_DIR")
    if override:
        return Path(override)
    for candidate in (Path(__file__).resolve().parents[2] / "schemas", Path.cwd() / "schemas"):
        if candidate.is_dir():
            return candidate
    raise DatagenError("cannot find the schemas/ folder; set DATAGEN_SCHEMAS_DIR")


@lru_cache(maxsize=None)
def schema_text(relative: str) -> str:
    """The JSON text of one schema file, normalised (compact, key order kept)."""
    path = schemas_dir() / relative
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), separators=(",", ":"))


def schema_dict(relative: str) -> dict[str, Any]:
    """One schema file as a fresh dict."""
    return json.loads(schema_text(relative))
