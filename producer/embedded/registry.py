"""A small file-backed service speaking the Confluent Schema Registry REST subset datagen needs.

It covers what confluent-kafka's ``SchemaRegistryClient``, ``AvroSerializer`` and
``AvroDeserializer`` call: register, lookup, versions, schemas by id and guid,
subjects, config (compatibility is stored and echoed, never enforced) and mode.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import fastavro

from producer.errors import BrokerUnavailable, ConfigError

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


Route = tuple[str, tuple[str | None, ...], Callable[..., Any]]


def _routes(store: SchemaStore) -> list[Route]:
    """Map (method, path pattern) to handlers taking (captures, query, body); None matches one segment."""
    def config_body(c: list[str], b: Any) -> dict[str, str]:
        level = b.get("compatibility") if isinstance(b, dict) else None
        return {"compatibility": store.set_compatibility(level, c[0] if c else None)}

    def int_id(raw: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise RegistryHTTPError(404, 40403, f"Schema {raw} not found") from None

    return [
        ("GET", (), lambda c, q, b: {}),
        ("GET", ("subjects",), lambda c, q, b: store.subjects(q.get("subjectPrefix", ""))),
        ("POST", ("subjects", None), lambda c, q, b: store.lookup(c[0], b)),
        ("DELETE", ("subjects", None), lambda c, q, b: store.delete_subject(c[0])),
        ("GET", ("subjects", None, "versions"), lambda c, q, b: store.versions(c[0])),
        ("POST", ("subjects", None, "versions"), lambda c, q, b: store.register(c[0], b)),
        ("GET", ("subjects", None, "versions", None), lambda c, q, b: store.version(c[0], c[1])),
        ("GET", ("subjects", None, "versions", None, "schema"),
         lambda c, q, b: RawSchema(store.version(c[0], c[1])["schema"])),
        ("GET", ("schemas", "types"), lambda c, q, b: ["AVRO"]),
        ("GET", ("schemas", "ids", None), lambda c, q, b: store.schema_by_id(int_id(c[0]))),
        ("GET", ("schemas", "ids", None, "schema"),
         lambda c, q, b: RawSchema(store.schema_by_id(int_id(c[0]))["schema"])),
        ("GET", ("schemas", "ids", None, "versions"), lambda c, q, b: store.id_usages(int_id(c[0]))),
        ("GET", ("schemas", "ids", None, "subjects"),
         lambda c, q, b: sorted({u["subject"] for u in store.id_usages(int_id(c[0]))})),
        ("GET", ("schemas", "guids", None), lambda c, q, b: store.schema_by_guid(c[0])),
        ("GET", ("config",), lambda c, q, b: {"compatibilityLevel": store.compatibility()}),
        ("PUT", ("config",), lambda c, q, b: config_body(c, b)),
        ("GET", ("config", None), lambda c, q, b: {"compatibilityLevel": store.compatibility(c[0])}),
        ("PUT", ("config", None), lambda c, q, b: config_body(c, b)),
        ("GET", ("mode",), lambda c, q, b: {"mode": "READWRITE"}),
        ("GET", ("mode", None), lambda c, q, b: {"mode": "READWRITE"}),
        ("GET", ("contexts",), lambda c, q, b: ["."]),
    ]


class RawSchema(str):
    """A schema string answered as-is (the ``.../schema`` endpoints return the bare schema)."""


def _match(routes: list[Route], method: str, segments: list[str]) -> tuple[Callable[..., Any], list[str]]:
    """Find the handler for a request, or raise a Confluent-style 404/405."""
    path_known = False
    for route_method, pattern, handler in routes:
        if len(pattern) != len(segments):
            continue
        if all(p is None or p == s for p, s in zip(pattern, segments)):
            path_known = True
            if route_method == method:
                return handler, [s for p, s in zip(pattern, segments) if p is None]
    if path_known:
        raise RegistryHTTPError(405, 405, "HTTP 405 Method Not Allowed")
    raise RegistryHTTPError(404, 404, "HTTP 404 Not Found")


class _Handler(BaseHTTPRequestHandler):
    """Translates HTTP requests into store calls; the store comes from the server."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the httpx client expects
    timeout = 60  # idle keep-alive connections release their thread eventually
    server: _RegistryHTTPServer

    def _dispatch(self) -> None:
        method = self.command
        parts = urlsplit(self.path)
        # split before unquoting: a subject may contain an encoded '/'
        segments = [unquote(s) for s in parts.path.split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body = self._read_body()
            handler, captures = _match(self.server.routes, method, segments)
            self._send(200, handler(captures, query, body))
        except RegistryHTTPError as exc:
            self._send(exc.status, {"error_code": exc.error_code, "message": exc.message})
        except Exception as exc:  # a bug must not kill the connection silently
            log.exception("registry request failed method=%s path=%s", method, self.path)
            self._send(500, {"error_code": 50001, "message": f"Error in the backend data store: {exc}"})

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815 - stdlib naming

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RegistryHTTPError(400, 400, f"Unrecognized request body: {exc}") from exc

    def _send(self, status: int, payload: Any) -> None:
        text = payload if isinstance(payload, RawSchema) else json.dumps(payload)
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("registry request client=%s %s", self.address_string(), format % args)


class _RegistryHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # otherwise server_close() joins threads parked on keep-alive sockets
    routes: list[Route]


class LocalSchemaRegistry:
    """A Confluent-compatible schema registry on a local port, served from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: str | Path | None = None) -> None:
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._server: _RegistryHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL clients use, e.g. ``http://127.0.0.1:8081``."""
        if self._server is None:
            raise RuntimeError("LocalSchemaRegistry is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> None:
        """Load state and start serving in a daemon thread (port 0 picks a free port)."""
        if self._server is not None:
            return
        store = SchemaStore(self.data_dir)
        try:
            server = _RegistryHTTPServer((self.host, self.port), _Handler)
        except OSError as exc:
            raise BrokerUnavailable(f"schema registry cannot listen on {self.host}:{self.port}: {exc}") from exc
        server.routes = _routes(store)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="schema-registry", daemon=True)
        self._thread.start()
        log.info("schema registry started url=%s data_dir=%s", self.url, self.data_dir or "memory")

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is None:
            return
        url = self.url
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        log.info("schema registry stopped url=%s", url)

    def __enter__(self) -> LocalSchemaRegistry:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 8081, data_dir: str | Path | None = None) -> None:
    """Run a registry in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()
    registry = LocalSchemaRegistry(host, port, data_dir)
    registry.start()
    shown_dir = str(Path(data_dir).resolve()) if data_dir is not None else "memory"
    print(f"schema registry listening on {registry.url} data_dir={shown_dir}", flush=True)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        registry.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
