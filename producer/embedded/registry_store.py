"""The local schema registry's state: subjects, versions, ids and guids, persisted atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import fastavro

from producer.errors import ConfigError

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
DEFAULT_COMPATIBILITY = "BACKWARD"
COMPATIBILITY_LEVELS = frozenset(
    {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
)
STATE_FILE = "registry.json"


class RegistryHTTPError(Exception):
    """An error answered to the client as a Confluent error body."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _identity(schema_type: str, schema_str: str, references: list[dict[str, Any]]) -> str:
    """Key under which two registrations count as the same schema (canonical JSON)."""
    canonical = json.dumps(json.loads(schema_str), sort_keys=True, separators=(",", ":"))
    refs = json.dumps(references, sort_keys=True, separators=(",", ":"))
    return f"{schema_type}|{canonical}|{refs}"


class SchemaStore:
    """Thread-safe registry state, persisted atomically to ``<data_dir>/registry.json``."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        self._path = Path(data_dir) / STATE_FILE if data_dir is not None else None
        self._next_id = 1
        self._schemas: dict[int, dict[str, Any]] = {}
        self._subjects: dict[str, list[dict[str, int]]] = {}
        self._global_compat = DEFAULT_COMPATIBILITY
        self._subject_compat: dict[str, str] = {}
        self._by_identity: dict[str, int] = {}
        self._load()

    # -- persistence -------------------------------------------------------
    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            state = json.loads(self._path.read_text(encoding="utf-8"))
            self._next_id = int(state["next_id"])
            self._schemas = {int(k): v for k, v in state["schemas"].items()}
            self._subjects = {k: list(v) for k, v in state["subjects"].items()}
            self._global_compat = state.get("compatibility", DEFAULT_COMPATIBILITY)
            self._subject_compat = dict(state.get("subject_compatibility", {}))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(str(self._path), "", "a datagen schema registry state file", str(exc)) from exc
        for schema_id, record in self._schemas.items():
            key = _identity(record["schemaType"], record["schema"], record["references"])
            self._by_identity[key] = schema_id
        log.info("registry state loaded path=%s schemas=%d subjects=%d",
                 self._path, len(self._schemas), len(self._subjects))

    def _save(self) -> None:
        if self._path is None:
            return
        state = {
            "next_id": self._next_id,
            "schemas": {str(k): v for k, v in self._schemas.items()},
            "subjects": self._subjects,
            "compatibility": self._global_compat,
            "subject_compatibility": self._subject_compat,
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".json", dir=self._path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- helpers -----------------------------------------------------------
    def _versions(self, subject: str) -> list[dict[str, int]]:
        versions = self._subjects.get(subject)
        if not versions:
            raise RegistryHTTPError(404, 40401, f"Subject '{subject}' not found.")
        return versions

    def _version_entry(self, subject: str, version: str) -> dict[str, int]:
        versions = self._versions(subject)
        if version in ("latest", "-1"):
            return versions[-1]
        try:
            number = int(version)
        except ValueError:
            number = 0
        if number < 1:
            raise RegistryHTTPError(
                422, 42202, f"The specified version '{version}' is not a valid version id. "
                "Allowed values are between [1, 2^31-1] and the string \"latest\"")
        for entry in versions:
            if entry["version"] == number:
                return entry
        raise RegistryHTTPError(404, 40402, f"Version {version} not found.")

    def _schema(self, schema_id: int) -> dict[str, Any]:
        record = self._schemas.get(schema_id)
        if record is None:
            raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
        return record

    def _describe(self, subject: str, entry: dict[str, int]) -> dict[str, Any]:
        return {"subject": subject, "version": entry["version"], **self.schema_by_id(entry["id"])}

    def _validate(self, body: Any) -> tuple[str, str, list[dict[str, Any]]]:
        """Check a register/lookup body; return (schema_type, schema_str, references)."""
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryHTTPError(422, 42201, "Invalid schema: request body needs a 'schema' string")
        schema_type = str(body.get("schemaType") or "AVRO").upper()
        if schema_type != "AVRO":
            raise RegistryHTTPError(422, 42201, f"Invalid schema: unsupported schema type {schema_type}")
        references = list(body.get("references") or [])
        named: dict[str, Any] = {}
        try:
            for ref in references:
                entry = self._version_entry(ref["subject"], str(ref.get("version", "latest")))
                fastavro.parse_schema(json.loads(self._schemas[entry["id"]]["schema"]), named_schemas=named)
            fastavro.parse_schema(json.loads(body["schema"]), named_schemas=named)
        except RegistryHTTPError as exc:
            raise RegistryHTTPError(422, 42201, f"Invalid schema: bad reference: {exc.message}") from exc
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            raise RegistryHTTPError(422, 42201, f"Invalid schema: {exc}") from exc
        return schema_type, body["schema"], references

    # -- operations --------------------------------------------------------
    def register(self, subject: str, body: Any) -> dict[str, Any]:
        """Register a schema under a subject; identical schemas keep their global id."""
        schema_type, schema_str, references = self._validate(body)
        key = _identity(schema_type, schema_str, references)
        with self._lock:
            schema_id = self._by_identity.get(key)
            versions = self._subjects.setdefault(subject, [])
            for entry in versions:
                if entry["id"] == schema_id:
                    return {"id": schema_id, "guid": self._schemas[schema_id]["guid"],
                            "subject": subject, "version": entry["version"]}
            if schema_id is None:
                schema_id = self._next_id
                self._next_id += 1
                self._schemas[schema_id] = {"schema": schema_str, "schemaType": schema_type,
                                            "references": references, "guid": str(uuid.uuid4())}
                self._by_identity[key] = schema_id
            version = versions[-1]["version"] + 1 if versions else 1
            versions.append({"version": version, "id": schema_id})
            self._save()
        log.info("schema registered subject=%s version=%d id=%d", subject, version, schema_id)
        return {"id": schema_id, "guid": self._schemas[schema_id]["guid"], "subject": subject, "version": version}

    def lookup(self, subject: str, body: Any) -> dict[str, Any]:
        """Find which version of a subject holds this schema."""
        with self._lock:
            self._versions(subject)  # an unknown subject answers 40401 before any schema check
        schema_type, schema_str, references = self._validate(body)
        key = _identity(schema_type, schema_str, references)
        with self._lock:
            versions = self._versions(subject)
            schema_id = self._by_identity.get(key)
            for entry in versions:
                if entry["id"] == schema_id:
                    return self._describe(subject, entry)
        raise RegistryHTTPError(404, 40403, "Schema not found")

    def subjects(self, prefix: str = "") -> list[str]:
        """All subjects with at least one version, sorted."""
        with self._lock:
            return sorted(s for s, v in self._subjects.items() if v and s.startswith(prefix))

    def versions(self, subject: str) -> list[int]:
        """Version numbers registered under a subject."""
        with self._lock:
            return [entry["version"] for entry in self._versions(subject)]

    def version(self, subject: str, version: str) -> dict[str, Any]:
        """One subject version, or ``latest``."""
        with self._lock:
            return self._describe(subject, self._version_entry(subject, version))

    def delete_subject(self, subject: str) -> list[int]:
        """Remove a subject; schema ids stay resolvable, as in Confluent."""
        with self._lock:
            removed = [entry["version"] for entry in self._versions(subject)]
            del self._subjects[subject]
            self._subject_compat.pop(subject, None)
            self._save()
        log.info("subject deleted subject=%s versions=%s", subject, removed)
        return removed

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema stored under a global id."""
        with self._lock:
            record = self._schema(schema_id)
            return {"id": schema_id, **{k: record[k] for k in ("guid", "schemaType", "references", "schema")}}

    def schema_by_guid(self, guid: str) -> dict[str, Any]:
        """The schema stored under a guid."""
        with self._lock:
            for schema_id, record in self._schemas.items():
                if record["guid"] == guid:
                    return self.schema_by_id(schema_id)
        raise RegistryHTTPError(404, 40403, f"Schema {guid} not found")

    def id_usages(self, schema_id: int) -> list[dict[str, Any]]:
        """Every (subject, version) that points at a schema id."""
        with self._lock:
            self._schema(schema_id)
            return [{"subject": subject, "version": entry["version"]}
                    for subject, versions in sorted(self._subjects.items())
                    for entry in versions if entry["id"] == schema_id]

    def compatibility(self, subject: str | None = None) -> str:
        """The subject's compatibility level, falling back to the global one."""
        with self._lock:
            return self._subject_compat.get(subject or "", self._global_compat)

    def set_compatibility(self, level: Any, subject: str | None = None) -> str:
        """Store a compatibility level (it is echoed, not enforced)."""
        if not isinstance(level, str) or level.upper() not in COMPATIBILITY_LEVELS:
            raise RegistryHTTPError(422, 42203, f"Invalid compatibility level {level!r}")
        with self._lock:
            if subject is None:
                self._global_compat = level.upper()
            else:
                self._subject_compat[subject] = level.upper()
            self._save()
        return level.upper()


