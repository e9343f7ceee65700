"""The local schema registry's state: subjects, versions, ids and guids, persisted atomically.

As in Confluent, deleting is soft first (the version stays, marked ``"deleted": true``, out of
listings and compatibility checks) and permanent only on a second, explicit delete; schema ids
are global and never reused.
"""

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

from producer.embedded.compatibility import (
    COMPATIBILITY_LEVELS,
    DEFAULT_COMPATIBILITY,
    SchemaText,
    incompatibilities,
    parse,
)
from producer.embedded.registry_versions import (
    Entry,
    RegistryHTTPError,
    find_version,
    identity,
    incompatible,
    is_deleted,
    live,
    no_subject_level,
    parse_version,
    references_exist,
    subject_not_found,
    subject_not_soft_deleted,
    subject_soft_deleted,
    version_not_found,
    version_not_soft_deleted,
    version_soft_deleted,
)
from producer.errors import ConfigError

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
STATE_FILE = "registry.json"
__all__ = ["COMPATIBILITY_LEVELS", "CONTENT_TYPE", "DEFAULT_COMPATIBILITY", "RegistryHTTPError", "SchemaStore"]


class SchemaStore:
    """Thread-safe registry state, persisted atomically to ``<data_dir>/registry.json``."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        self._path = Path(data_dir) / STATE_FILE if data_dir is not None else None
        self._next_id = 1
        self._schemas: dict[int, dict[str, Any]] = {}
        self._subjects: dict[str, list[Entry]] = {}
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
            key = identity(record["schemaType"], record["schema"], record["references"])
            self._by_identity[key] = schema_id
        log.info(
            "registry state loaded path=%s schemas=%d subjects=%d", self._path, len(self._schemas), len(self._subjects)
        )

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

    # -- helpers (callers hold the lock) -------------------------------------
    def _entries(self, subject: str, deleted: bool = False) -> list[Entry]:
        """A subject's versions, soft-deleted ones only when asked; 40401 when there are none."""
        entries = self._subjects.get(subject, [])
        entries = entries if deleted else live(entries)
        if not entries:
            raise subject_not_found(subject)
        return entries

    def _find(self, subject: str, version: str, deleted: bool = False) -> Entry:
        return find_version(self._subjects.get(subject, []), subject, version, deleted)

    def _schema(self, schema_id: int) -> dict[str, Any]:
        record = self._schemas.get(schema_id)
        if record is None:
            raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
        return record

    def _view(self, schema_id: int) -> dict[str, Any]:
        record = self._schema(schema_id)
        return {"id": schema_id, **{k: record[k] for k in ("guid", "schemaType", "references", "schema")}}

    def _describe(self, subject: str, entry: Entry) -> dict[str, Any]:
        return {"subject": subject, "version": entry["version"], **self._view(entry["id"])}

    def _resolve(self, references: list[Any], seen: frozenset[int] = frozenset()) -> list[str]:
        """Texts of every schema the references reach, dependencies first, each once."""
        texts: list[str] = []
        for ref in references:
            if not isinstance(ref, dict) or not isinstance(ref.get("subject"), str):
                raise RegistryHTTPError(422, 42201, f"Invalid schema: bad reference {ref!r}")
            entry = self._find(ref["subject"], str(ref.get("version", "latest")), deleted=True)
            if entry["id"] in seen:
                continue  # a reference cycle: the parser reports the undefined name
            record = self._schemas[entry["id"]]
            texts += self._resolve(record["references"], seen | {entry["id"]})
            texts.append(record["schema"])
        return list(dict.fromkeys(texts))

    def _validate(self, body: Any) -> tuple[str, str, list[dict[str, Any]], tuple[str, ...]]:
        """Check a schema request body; return (schema_type, schema_str, references, referenced texts)."""
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryHTTPError(422, 42201, "Invalid schema: request body needs a 'schema' string")
        schema_type = str(body.get("schemaType") or "AVRO").upper()
        if schema_type != "AVRO":
            raise RegistryHTTPError(422, 42201, f"Invalid schema: unsupported schema type {schema_type}")
        references = list(body.get("references") or [])
        named: dict[str, Any] = {}
        try:
            referenced = self._resolve(references)
            for text in [*referenced, body["schema"]]:
                fastavro.parse_schema(json.loads(text), named_schemas=named)
        except RegistryHTTPError as exc:
            raise RegistryHTTPError(422, 42201, f"Invalid schema: bad reference: {exc.message}") from exc
        except Exception as exc:  # fastavro raises several unrelated types for bad schemas
            raise RegistryHTTPError(422, 42201, f"Invalid schema: {exc}") from exc
        return schema_type, body["schema"], references, tuple(referenced)

    def _stored_text(self, entry: Entry) -> SchemaText:
        record = self._schemas[entry["id"]]
        try:
            referenced = tuple(self._resolve(record["references"]))
        except RegistryHTTPError:
            referenced = ()  # a reference gone since: parsing fails and the check reports it
        return SchemaText(record["schema"], referenced, entry["version"])

    def _check(self, subject: str, candidate: SchemaText, against: list[Entry]) -> list[str]:
        """Messages for why the candidate may not follow ``against`` under the subject's level."""
        level = self.compatibility(subject)
        if level == "NONE" or not against:
            return []  # nothing to check: fastavro's validation alone decides, as before
        try:
            parsed = parse(candidate)
        except ValueError as exc:
            raise RegistryHTTPError(422, 42201, f"Invalid schema: {exc}") from exc
        return incompatibilities(level, parsed, [self._stored_text(e) for e in against])

    def _referenced_by(self, subject: str, version: int) -> list[int]:
        """Ids of live schemas whose references point at this subject version."""
        ids: set[int] = set()
        for entry in (e for entries in self._subjects.values() for e in live(entries)):
            for ref in self._schemas[entry["id"]]["references"]:
                if ref.get("subject") != subject:
                    continue
                try:
                    if self._find(subject, str(ref.get("version", "latest")), deleted=True)["version"] == version:
                        ids.add(entry["id"])
                except RegistryHTTPError:
                    continue
        return sorted(ids)

    # -- operations --------------------------------------------------------
    def register(self, subject: str, body: Any) -> dict[str, Any]:
        """Register a schema under a subject if the subject's compatibility level allows it."""
        with self._lock:
            schema_type, schema_str, references, referenced = self._validate(body)
            key = identity(schema_type, schema_str, references)
            schema_id = self._by_identity.get(key)
            entries = self._subjects.get(subject, [])
            current = live(entries)
            for entry in current:
                if entry["id"] == schema_id:  # already there: no check, as in Confluent
                    return {
                        "id": entry["id"],
                        "guid": self._schemas[entry["id"]]["guid"],
                        "subject": subject,
                        "version": entry["version"],
                    }
            messages = self._check(subject, SchemaText(schema_str, referenced), current)
            if messages:
                raise incompatible(subject, messages)
            if schema_id is None:
                schema_id = self._next_id
                self._next_id += 1
                self._schemas[schema_id] = {
                    "schema": schema_str,
                    "schemaType": schema_type,
                    "references": references,
                    "guid": str(uuid.uuid4()),
                }
                self._by_identity[key] = schema_id
            # numbering goes on past soft-deleted versions; those of this very schema are dropped
            version = max((e["version"] for e in entries), default=0) + 1
            kept = [e for e in entries if not (is_deleted(e) and e["id"] == schema_id)]
            self._subjects[subject] = [*kept, {"version": version, "id": schema_id}]
            self._save()
        log.info("schema registered subject=%s version=%d id=%d", subject, version, schema_id)
        return {"id": schema_id, "guid": self._schemas[schema_id]["guid"], "subject": subject, "version": version}

    def test_compatibility(self, subject: str, version: str | None, body: Any, verbose: bool) -> dict[str, Any]:
        """Whether a schema could be registered after one version (or, with None, per the level)."""
        with self._lock:
            against = live(self._subjects.get(subject, []))
            if version is not None:
                number = parse_version(version)
                against = against[-1:] if number is None else [e for e in against if e["version"] == number]
                if number is not None and not against:
                    raise version_not_found(number)
            try:
                _, schema_str, _, referenced = self._validate(body)
                messages = self._check(subject, SchemaText(schema_str, referenced), against)
            except RegistryHTTPError as exc:
                if exc.error_code != 42201 or not verbose:
                    raise
                messages = [exc.message]
        answer: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            answer["messages"] = messages
        return answer

    def lookup(self, subject: str, body: Any, deleted: bool = False) -> dict[str, Any]:
        """Find which version of a subject holds this schema."""
        with self._lock:
            entries = self._entries(subject, deleted)  # an unknown subject answers 40401 before any schema check
            schema_type, schema_str, references, _ = self._validate(body)
            schema_id = self._by_identity.get(identity(schema_type, schema_str, references))
            for entry in reversed(entries):
                if entry["id"] == schema_id:
                    return self._describe(subject, entry)
        raise RegistryHTTPError(404, 40403, "Schema not found")

    def subjects(self, prefix: str = "", deleted: bool = False, deleted_only: bool = False) -> list[str]:
        """Subjects with a live version (or a soft-deleted one, when asked), sorted."""

        def shown(entry: Entry) -> bool:
            return is_deleted(entry) if deleted_only else deleted or not is_deleted(entry)

        with self._lock:
            return sorted(
                s for s, entries in self._subjects.items() if s.startswith(prefix) and any(shown(e) for e in entries)
            )

    def versions(self, subject: str, deleted: bool = False, deleted_only: bool = False) -> list[int]:
        """Version numbers under a subject; soft-deleted ones only when asked."""
        with self._lock:
            entries = self._entries(subject, deleted or deleted_only)
            return [e["version"] for e in entries if is_deleted(e) or not deleted_only]

    def version(self, subject: str, version: str, deleted: bool = False) -> dict[str, Any]:
        """One subject version, or ``latest``."""
        with self._lock:
            return self._describe(subject, self._find(subject, version, deleted))

    def schemas(self, prefix: str = "", deleted: bool = False, latest_only: bool = False) -> list[dict[str, Any]]:
        """Every subject version as a schema, by subject then version (``GET /schemas``)."""
        with self._lock:
            found = []
            for subject in sorted(s for s in self._subjects if s.startswith(prefix)):
                entries = self._subjects[subject] if deleted else live(self._subjects[subject])
                found += [self._describe(subject, e) for e in (entries[-1:] if latest_only else entries)]
            return found

    def referenced_by(self, subject: str, version: str) -> list[int]:
        """Ids of the schemas that reference a subject version."""
        with self._lock:
            return self._referenced_by(subject, self._find(subject, version, deleted=True)["version"])

    def delete_version(self, subject: str, version: str, permanent: bool = False) -> int:
        """Soft-delete a version, or remove a soft-deleted one for good with ``permanent``."""
        with self._lock:
            entry = self._find(subject, version, deleted=True)
            number = entry["version"]
            if is_deleted(entry) and not permanent:
                raise version_soft_deleted(subject, version)
            if self._referenced_by(subject, number):
                raise references_exist(subject, number)
            if permanent and not is_deleted(entry):
                raise version_not_soft_deleted(subject, number)
            entries = self._subjects[subject]
            if permanent:
                entries.remove(entry)
                if not entries:
                    del self._subjects[subject]
            else:
                entry["deleted"] = True
                if all(is_deleted(e) for e in entries):
                    self._subject_compat.pop(subject, None)  # Confluent drops the config with the last version
            self._save()
        log.info("schema version deleted subject=%s version=%d permanent=%s", subject, number, permanent)
        return number

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Soft-delete a subject's versions, or remove a soft-deleted subject for good with ``permanent``."""
        with self._lock:
            entries = self._entries(subject, deleted=True)
            current = live(entries)
            if not permanent and not current:
                raise subject_soft_deleted(subject)
            for entry in entries if permanent else current:
                if self._referenced_by(subject, entry["version"]):
                    raise references_exist(subject, entry["version"])
            if permanent and current:
                raise subject_not_soft_deleted(subject)
            removed = [e["version"] for e in (entries if permanent else current)]
            if permanent:
                del self._subjects[subject]
            else:
                for entry in current:
                    entry["deleted"] = True
            self._subject_compat.pop(subject, None)
            self._save()
        log.info("subject deleted subject=%s versions=%s permanent=%s", subject, removed, permanent)
        return removed

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        """The schema under a global id while some version, soft-deleted or not, still uses it."""
        with self._lock:
            if not any(e["id"] == schema_id for entries in self._subjects.values() for e in entries):
                raise RegistryHTTPError(404, 40403, f"Schema {schema_id} not found")
            return self._view(schema_id)

    def schema_by_guid(self, guid: str) -> dict[str, Any]:
        """The schema stored under a guid."""
        with self._lock:
            for schema_id, record in self._schemas.items():
                if record["guid"] == guid:
                    return self.schema_by_id(schema_id)
        raise RegistryHTTPError(404, 40403, f"Schema {guid} not found")

    def id_usages(self, schema_id: int, deleted: bool = False) -> list[dict[str, Any]]:
        """Every (subject, version) that points at a schema id."""
        with self._lock:
            self.schema_by_id(schema_id)
            return [
                {"subject": subject, "version": e["version"]}
                for subject, entries in sorted(self._subjects.items())
                for e in entries
                if e["id"] == schema_id and (deleted or not is_deleted(e))
            ]

    def compatibility(self, subject: str | None = None) -> str:
        """The level in force for a subject: its own, else the global one."""
        with self._lock:
            return self._subject_compat.get(subject or "", self._global_compat)

    def config(self, subject: str | None = None, default_to_global: bool = False) -> dict[str, str]:
        """``GET /config[/subject]``: 40408 for a subject without its own level unless it may fall back."""
        with self._lock:
            if subject is not None and subject not in self._subject_compat and not default_to_global:
                raise no_subject_level(subject)
            return {"compatibilityLevel": self.compatibility(subject)}

    def set_compatibility(self, level: Any, subject: str | None = None) -> str:
        """Store a compatibility level, global or for one subject."""
        if not isinstance(level, str) or level.upper() not in COMPATIBILITY_LEVELS:
            raise RegistryHTTPError(
                422,
                42203,
                "Invalid compatibility level. Valid values are none, backward, "
                "forward, full, backward_transitive, forward_transitive, and full_transitive",
            )
        with self._lock:
            if subject is None:
                self._global_compat = level.upper()
            else:
                self._subject_compat[subject] = level.upper()
            self._save()
        return level.upper()

    def delete_config(self, subject: str | None = None) -> dict[str, str]:
        """Drop a subject's own level (40401 when it has none), or reset the global one; answer the old."""
        with self._lock:
            if subject is None:
                previous, self._global_compat = self._global_compat, DEFAULT_COMPATIBILITY
            elif subject in self._subject_compat:
                previous = self._subject_compat.pop(subject)
            else:
                raise subject_not_found(subject)
            self._save()
        return {"compatibilityLevel": previous}
