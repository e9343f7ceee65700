"""A small file-backed service speaking the Confluent Schema Registry REST subset datagen needs.

It covers what confluent-kafka's ``SchemaRegistryClient``, ``AvroSerializer`` and
``AvroDeserializer`` call: register, lookup, versions, schemas by id and guid, subjects,
soft and permanent deletes, references, config and mode. Compatibility levels (global
BACKWARD by default, per subject through ``PUT /config/{subject}``) are enforced on register
with Confluent's 409, and ``POST /compatibility/subjects/{subject}/versions[/{version}]``
answers ``{"is_compatible": ..., "messages": [...]}`` (messages with ``?verbose=true``);
the check itself is Apache avro's (see ``producer.embedded.compatibility``).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from producer.embedded.registry_store import CONTENT_TYPE, RegistryHTTPError, SchemaStore
from producer.errors import BrokerUnavailable

log = logging.getLogger(__name__)

Route = tuple[str, tuple[str | None, ...], Callable[..., Any]]


def _flag(query: dict[str, str], *names: str) -> bool:
    """A boolean query parameter; clients send true, True or 1."""
    return any(query.get(name, "").lower() in ("true", "1") for name in names)


def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
    """Apply Confluent's ``offset``/``limit`` (a negative limit means all)."""
    try:
        offset, limit = max(int(query.get("offset", 0)), 0), int(query.get("limit", -1))
    except ValueError:
        return items
    return items[offset:] if limit < 0 else items[offset : offset + limit]


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

    def deleted(q: dict[str, str]) -> bool:
        return _flag(q, "deleted")

    def deleted_only(q: dict[str, str]) -> bool:
        return _flag(q, "deletedOnly", "deleted_only")  # the server's name, and the Python client's

    return [
        ("GET", (), lambda c, q, b: {}),
        (
            "GET",
            ("subjects",),
            lambda c, q, b: _page(store.subjects(q.get("subjectPrefix", ""), deleted(q), deleted_only(q)), q),
        ),
        ("POST", ("subjects", None), lambda c, q, b: store.lookup(c[0], b, deleted(q))),
        ("DELETE", ("subjects", None), lambda c, q, b: store.delete_subject(c[0], _flag(q, "permanent"))),
        (
            "GET",
            ("subjects", None, "versions"),
            lambda c, q, b: _page(store.versions(c[0], deleted(q), deleted_only(q)), q),
        ),
        ("POST", ("subjects", None, "versions"), lambda c, q, b: store.register(c[0], b)),
        ("GET", ("subjects", None, "versions", None), lambda c, q, b: store.version(c[0], c[1], deleted(q))),
        (
            "DELETE",
            ("subjects", None, "versions", None),
            lambda c, q, b: store.delete_version(c[0], c[1], _flag(q, "permanent")),
        ),
        (
            "GET",
            ("subjects", None, "versions", None, "schema"),
            lambda c, q, b: RawSchema(store.version(c[0], c[1], deleted(q))["schema"]),
        ),
        (
            "GET",
            ("subjects", None, "versions", None, "referencedby"),
            lambda c, q, b: _page(store.referenced_by(c[0], c[1]), q),
        ),
        (
            "POST",
            ("compatibility", "subjects", None, "versions", None),
            lambda c, q, b: store.test_compatibility(c[0], c[1], b, _flag(q, "verbose")),
        ),
        (
            "POST",
            ("compatibility", "subjects", None, "versions"),
            lambda c, q, b: store.test_compatibility(c[0], None, b, _flag(q, "verbose")),
        ),
        (
            "GET",
            ("schemas",),
            lambda c, q, b: _page(store.schemas(q.get("subjectPrefix", ""), deleted(q), _flag(q, "latestOnly")), q),
        ),
        ("GET", ("schemas", "types"), lambda c, q, b: ["AVRO"]),
        ("GET", ("schemas", "ids", None), lambda c, q, b: store.schema_by_id(int_id(c[0]))),
        (
            "GET",
            ("schemas", "ids", None, "schema"),
            lambda c, q, b: RawSchema(store.schema_by_id(int_id(c[0]))["schema"]),
        ),
        (
            "GET",
            ("schemas", "ids", None, "versions"),
            lambda c, q, b: _page(store.id_usages(int_id(c[0]), deleted(q)), q),
        ),
        (
            "GET",
            ("schemas", "ids", None, "subjects"),
            lambda c, q, b: _page(sorted({u["subject"] for u in store.id_usages(int_id(c[0]), deleted(q))}), q),
        ),
        ("GET", ("schemas", "guids", None), lambda c, q, b: store.schema_by_guid(c[0])),
        ("GET", ("config",), lambda c, q, b: store.config()),
        ("PUT", ("config",), lambda c, q, b: config_body(c, b)),
        ("DELETE", ("config",), lambda c, q, b: store.delete_config()),
        ("GET", ("config", None), lambda c, q, b: store.config(c[0], _flag(q, "defaultToGlobal"))),
        ("PUT", ("config", None), lambda c, q, b: config_body(c, b)),
        ("DELETE", ("config", None), lambda c, q, b: store.delete_config(c[0])),
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
    # headers and body leave in two writes: with Nagle on, the body waits for the client's delayed ACK
    # of the headers (40 ms on Linux), so every keep-alive request took ~44 ms
    disable_nagle_algorithm = True
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

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

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

    def log_message(self, format: str, *args: Any) -> None:
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
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="schema-registry", daemon=True
        )
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

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 8081, data_dir: str | Path | None = None) -> None:
    """Run a registry in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    # handlers first: whoever reads the "listening" line may signal at once
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    registry = LocalSchemaRegistry(host, port, data_dir)
    try:
        registry.start()
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    shown_dir = str(Path(data_dir).resolve()) if data_dir is not None else "memory"
    print(f"schema registry listening on {registry.url} data_dir={shown_dir}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        registry.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
