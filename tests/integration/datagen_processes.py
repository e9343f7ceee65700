"""Real `python -m producer run` processes to the file sink (no broker): start, wait until playing, SIGTERM."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import two_stream_scenario

ROOT = Path(__file__).resolve().parents[2]
GRACE = 10.0  # seconds a run may take to exit after SIGTERM


def scenario(name: str, **knobs: str) -> str:
    """A small two-stream scenario, repeating forever, with one knob turned."""
    return two_stream_scenario(name, seed=1, **knobs)


def start(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    """`python -m producer ARGS` from the repository root, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def run_file(path: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """A run of `path` to JSON-lines files under `out`, without a metrics endpoint."""
    return start(["run", str(path), "--sink", "file", "--format", "jsonl", "--out", str(out), "--no-metrics", *extra])


def wait_playing(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The run's first stdout line, once it is playing (signal handlers installed); "" if it ended first."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline()


def terminate_all(procs: dict[str, subprocess.Popen[str]], after: float) -> dict[str, tuple[int, float, str]]:
    """SIGTERM each process `after` s after it started playing; (exit code, seconds to exit, stderr) per name."""
    playing = {name: wait_playing(proc) for name, proc in procs.items()}
    time.sleep(after)
    sent = {}
    for name, proc in procs.items():
        assert playing[name].startswith("playing"), (name, playing[name], proc.poll())
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        sent[name] = time.monotonic()
    out = {}
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=max(0.1, sent[name] + GRACE - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            out[name] = (-9, float("inf"), err)
            continue
        out[name] = (proc.returncode, time.monotonic() - sent[name], err)
    return out
