"""The embedded stack: broker + schema registry in one detached supervisor that outlives a run.

`datagen run` without a broker calls `ensure()`: it reuses a running stack or starts one, so the
events of a run can still be read by `datagen tail` after the run ends. `datagen embedded stop`
ends it. The supervisor is `python -m producer embedded serve`; its state file holds the addresses.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from producer.errors import BrokerUnavailable

log = logging.getLogger(__name__)
STATE_FILE = "embedded.json"
START_TIMEOUT = 45.0


@dataclass(frozen=True)
class StackInfo:
    """Where the embedded stack listens and which process supervises it."""

    bootstrap_servers: str
    registry_url: str
    pid: int
    broker_pid: int = 0
    registry_pid: int = 0


def state_dir() -> Path:
    """$DATAGEN_STATE_DIR, else ~/.cache/datagen (or $XDG_CACHE_HOME/datagen)."""
    override = os.environ.get("DATAGEN_STATE_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "datagen"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_state() -> StackInfo | None:
    path = state_dir() / STATE_FILE
    try:
        return StackInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def status() -> StackInfo | None:
    """The running stack, or None."""
    info = _read_state()
    if info is None or not _alive(info.pid):
        return None
    return info


def ensure(timeout: float = START_TIMEOUT) -> StackInfo:
    """The running stack, starting a detached one if none runs."""
    info = status()
    if info is not None:
        return info
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    log_path = directory / "embedded.log"
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "embedded", "serve"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "DATAGEN_STATE_DIR": str(directory)},
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _read_state()
        if info is not None and info.pid == process.pid:
            return info
        if process.poll() is not None:
            break
        time.sleep(0.1)
    if process.poll() is None:
        process.terminate()
    tail = log_path.read_text(errors="replace")[-1500:] if log_path.exists() else ""
    raise BrokerUnavailable(f"the embedded stack did not start (log {log_path}):\n{tail}")


def stop(timeout: float = 20.0) -> bool:
    """Stop the running stack; False when none was running."""
    info = status()
    if info is None:
        (state_dir() / STATE_FILE).unlink(missing_ok=True)
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    (state_dir() / STATE_FILE).unlink(missing_ok=True)
    return True


def serve() -> None:
    """The supervisor: start broker and registry, publish the state file, wait for SIGTERM."""
    from producer.embedded.broker import EmbeddedBroker
    from producer.embedded.registry import LocalSchemaRegistry

    directory = state_dir()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    # the registry lives in memory like the broker: schemas registered by an earlier stack (perhaps an
    # older datagen) must not refuse today's schemas as incompatible with topics that no longer exist
    with EmbeddedBroker() as broker, LocalSchemaRegistry() as registry:
        info = StackInfo(broker.bootstrap_servers, registry.url, os.getpid(), broker.pid or 0, os.getpid())
        path = directory / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info)))
        os.replace(tmp, path)
        log.info("embedded stack ready bootstrap=%s registry=%s", info.bootstrap_servers, info.registry_url)
        done.wait()
    path.unlink(missing_ok=True)
    log.info("embedded stack stopped")
