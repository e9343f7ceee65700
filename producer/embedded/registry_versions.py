"""A subject's versions as the local registry keeps them, and Confluent's error answers about them."""

from __future__ import annotations

import json
from typing import Any

Entry = dict[str, Any]  # {"version": int, "id": int}, plus "deleted": true once soft-deleted


class RegistryHTTPError(Exception):
    """An error answered to the client as a Confluent error body."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def identity(schema_type: str, schema_str: str, references: list[dict[str, Any]]) -> str:
    """Key under which two registrations count as the same schema (canonical JSON)."""
    canonical = json.dumps(json.loads(schema_str), sort_keys=True, separators=(",", ":"))
    refs = json.dumps(references, sort_keys=True, separators=(",", ":"))
    return f"{schema_type}|{canonical}|{refs}"


def is_deleted(entry: Entry) -> bool:
    """Whether a version is soft-deleted (state files from before soft deletes have no flag)."""
    return bool(entry.get("deleted", False))


def live(entries: list[Entry]) -> list[Entry]:
    """The versions that are not soft-deleted, oldest first."""
    return [e for e in entries if not is_deleted(e)]


def parse_version(version: str) -> int | None:
    """A version path segment as a number, or None for ``latest``; 42202 when it is neither."""
    if version in ("latest", "-1"):
        return None
    try:
        number = int(version)
    except ValueError:
        number = 0
    if number < 1:
        raise RegistryHTTPError(
            422,
            42202,
            f"The specified version '{version}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"',
        )
    return number


def find_version(entries: list[Entry], subject: str, version: str, deleted: bool = False) -> Entry:
    """One version (``latest`` is the newest live one), told apart as 40401 or 40402 like Confluent."""
    number = parse_version(version)
    candidates = live(entries)[-1:] if number is None else entries if deleted else live(entries)
    for entry in candidates:
        if number is None or entry["version"] == number:
            return entry
    if not (entries if deleted else live(entries)):
        raise subject_not_found(subject)
    raise version_not_found(-1 if number is None else number)


def subject_not_found(subject: str) -> RegistryHTTPError:
    """40401."""
    return RegistryHTTPError(404, 40401, f"Subject '{subject}' not found.")


def version_not_found(number: int) -> RegistryHTTPError:
    """40402."""
    return RegistryHTTPError(404, 40402, f"Version {number} not found.")


def subject_soft_deleted(subject: str) -> RegistryHTTPError:
    """40404: a soft-deleted subject deleted again without ``permanent``."""
    return RegistryHTTPError(
        404, 40404, f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"
    )


def subject_not_soft_deleted(subject: str) -> RegistryHTTPError:
    """40405: a permanent delete of a subject that still has live versions."""
    return RegistryHTTPError(404, 40405, f"Subject '{subject}' was not deleted first before being permanently deleted")


def version_soft_deleted(subject: str, version: str) -> RegistryHTTPError:
    """40406: a soft-deleted version deleted again without ``permanent``."""
    return RegistryHTTPError(
        404, 40406, f"Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryHTTPError:
    """40407: a permanent delete of a live version."""
    return RegistryHTTPError(
        404, 40407, f"Subject '{subject}' Version {version} was not deleted first before being permanently deleted"
    )


def no_subject_level(subject: str) -> RegistryHTTPError:
    """40408: ``GET /config/{subject}`` for a subject without its own level."""
    return RegistryHTTPError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility configured")


def incompatible(subject: str, messages: list[str]) -> RegistryHTTPError:
    """409 with error code 409, as Confluent Platform 7.x answers (8.0.4+ says 40901)."""
    details = ", ".join(messages)
    return RegistryHTTPError(
        409,
        409,
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", details: [{details}]',
    )


def references_exist(subject: str, version: int) -> RegistryHTTPError:
    """42206: a version that a live schema references cannot be deleted."""
    key = f"{{magic=1,keytype=SCHEMA,subject={subject},version={version}}}"
    return RegistryHTTPError(422, 42206, f"One or more references exist to the schema {key}.")
