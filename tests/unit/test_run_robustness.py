"""Whatever `validate` accepts, `run` runs; the first SIGTERM ends any run within 10 s (file sink, no broker).

Each case is a real `python -m producer run` in a subprocess; they run side by side to keep this quick.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRACE = 10.0  # seconds a run may take to exit after SIGTERM


def scenario(
    name: str,
    *,
    weight: str = "1",
    duration: str = "10s",
    start: str = "2026-01-01T00:00:00Z",
    speed: str = "1",
    rate: str = "2000",
) -> str:
    """A small two-stream scenario, repeating forever, with one knob turned."""
    return (
        f'name: {name}\nseed: 1\nclock: {{start: "{start}", speed: {speed}}}\n'
        f"streams:\n  fintech.transactions: {{weight: {weight}}}\n  fintech.sessions: {{weight: 1}}\n"
        f"phases:\n  - {{name: p, duration: {duration}, rate: {rate}}}\nrepeat: forever\n"
    )


CASES = {
    "phase_10ms": scenario("phase_10ms", duration="10ms"),
    "phase_1ms": scenario("phase_1ms", duration="1ms"),
    "weight_inf": scenario("weight_inf", weight=".inf"),
    "weight_1e-12": scenario("weight_tiny", weight="1e-12"),
    "weight_5e-324": scenario("weight_denormal", weight="5e-324"),
    "speed_1e300": scenario("speed_huge", speed="1.0e+300"),
    "start_9999": scenario("start_late", start="9999-12-31T23:00:00Z"),
    "rate_inf": scenario("rate_inf", rate=".inf"),
    "phase_under_1ms": scenario("phase_tiny", duration="0.000001"),
}


def _start(args: list[str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "producer", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", "validate", str(path)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _run_file(path: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return _start(["run", str(path), "--sink", "file", "--format", "jsonl", "--out", str(out), "--no-metrics", *extra])


def _wait_playing(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The run's first stdout line, once it is playing (signal handlers installed); "" if it ended first."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline()


def _terminate_all(procs: dict[str, subprocess.Popen[str]], after: float) -> dict[str, tuple[int, float, str]]:
    """SIGTERM each process `after` s after it started playing; (exit code, seconds to exit, stderr) per name."""
    playing = {name: _wait_playing(proc) for name, proc in procs.items()}
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


def test_odd_scenarios_are_rejected_in_one_line_or_run_and_stop_on_sigterm(tmp_path: Path) -> None:
    files = {}
    for name, text in CASES.items():
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(text)
    accepted = {}
    for name, path in files.items():
        checked = _validate(path)
        assert "Traceback" not in checked.stderr, (name, checked.stderr)
        if checked.returncode == 0:
            accepted[name] = path
        else:  # rejected: exit 2 and one line, by validate and by run alike
            assert checked.returncode == 2 and len(checked.stderr.strip().splitlines()) == 1, (name, checked.stderr)
            ran = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "producer",
                    "run",
                    str(path),
                    "--sink",
                    "file",
                    "--out",
                    str(tmp_path / "rejected"),
                    "--no-metrics",
                ],
                cwd=ROOT,
                text=True,
                capture_output=True,
                timeout=60,
                check=False,
            )
            assert ran.returncode == 2 and len(ran.stderr.strip().splitlines()) == 1, (name, ran.stderr)
    # tiny weights and millisecond phases are fine input: they must run (and stop when told)
    assert {"phase_10ms", "phase_1ms", "weight_1e-12", "weight_5e-324"} <= set(accepted)
    procs = {name: _run_file(path, tmp_path / name) for name, path in accepted.items()}
    results = _terminate_all(procs, after=1.5)
    for name, (code, took, err) in results.items():
        assert "Traceback" not in err, (name, err)
        assert code == 0 and took < GRACE, (name, code, took, err[-500:])
    # a millisecond phase is a scenario like any other: scenario time advances and events flow, at
    # --rate max to an event count (counting what 1.5 s of a loaded machine let through is a clock)
    run_args = [sys.executable, "-m", "producer", "run", "--sink", "file", "--format", "jsonl", "--no-metrics"]
    for name in ("phase_10ms", "phase_1ms", "weight_1e-12"):
        out = tmp_path / f"{name}-counted"
        ran = subprocess.run(
            [*run_args, str(accepted[name]), "--out", str(out), "--rate", "max", "--events", "4000"],
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, (name, ran.stderr[-500:])
        sessions = len((out / "fintech.sessions.jsonl").read_text().splitlines())
        # both streams flow (weight 1 each: ~2,000 sessions events); a stream weighted 1e-12 emits
        # (almost) nothing of its own and does not hold the other back
        assert sessions > (3_000 if name == "weight_1e-12" else 1_000), (name, sessions)


def test_steady_state_file_run_ends_within_10s_of_sigterm(tmp_path: Path) -> None:
    proc = _run_file(Path("steady_state"), tmp_path)
    ((code, took, err),) = _terminate_all({"steady_state": proc}, after=1.5).values()
    assert code == 0 and took < GRACE and "Traceback" not in err, (code, took, err)


def test_event_time_past_year_9900_ends_the_run_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(
        scenario("late", start="9000-01-01T00:00:00Z", speed="1000000", rate="0.01", duration="1e10").replace(
            "repeat: forever\n", ""
        )
    )
    proc = _run_file(path, tmp_path / "out", "--rate", "max")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "ended_by=event-time-limit" in out, out
    last = (tmp_path / "out" / "fintech.transactions.jsonl").read_text().splitlines()[-1]
    assert "9899" >= json.loads(last)["timestamp"][:4] >= "9000"


def _accepted_mutants(tmp_path: Path, want: int) -> list[Path]:
    """Up to `want` fuzzed scenario files that `validate` accepts (checked in-process, as validate does)."""
    from producer.errors import DatagenError
    from producer.scenario.loader import load_scenario
    from tests.fuzz.mutations import mutants

    accepted = []
    for name, content in mutants(600, seed=11):
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        try:
            load_scenario(path)
        except DatagenError:
            continue
        accepted.append(path)
        if len(accepted) == want:
            break
    return accepted


def drive(paths: list[str], out: str) -> None:
    """Run each file briefly in this process (the CLI entry point), printing one JSON line per file."""
    from producer.cli import main

    for i, path in enumerate(paths):
        print(json.dumps({"start": path}), flush=True)
        code = main(
            [
                "run",
                path,
                "--sink",
                "file",
                "--format",
                "jsonl",
                "--out",
                f"{out}/{i}",
                "--no-metrics",
                "--events",
                "300",
                "--duration",
                "3s",
                "--rate",
                "max",
                "--log-level",
                "ERROR",
            ]
        )
        print(json.dumps({"path": path, "code": code}), flush=True)


def test_fuzzed_scenarios_that_validate_also_run(tmp_path: Path) -> None:
    paths = _accepted_mutants(tmp_path, want=60)
    assert len(paths) >= 30, len(paths)
    halves = [paths[0::2], paths[1::2]]
    code = (
        "import sys, json; from tests.unit.test_run_robustness import drive; "
        "drive(json.loads(sys.argv[1]), sys.argv[2])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, json.dumps([str(p) for p in half]), str(tmp_path / f"o{i}")],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for i, half in enumerate(halves)
    ]
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"a fuzzed run hung; last started: {out.strip().splitlines()[-1:]}")
        assert "Traceback" not in err, err[-3000:]
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        codes = {r["path"]: r["code"] for r in results if "code" in r}
        assert proc.returncode == 0 and all(c == 0 for c in codes.values()), (codes, err[-2000:])
    # a few of them paced at their own rate, stopped by SIGTERM
    paced = {p.stem: _run_file(p, tmp_path / f"paced-{p.stem}") for p in paths[:3]}
    for name, (code, took, err) in _terminate_all(paced, after=1.5).items():
        assert "Traceback" not in err and code == 0 and took < GRACE, (name, code, took, err[-1500:])


def test_a_signal_during_a_long_shutdown_flush_cuts_it_short(tmp_path: Path) -> None:
    """A producer whose broker never answers: the flush would wait 30 s; after SIGTERM it purges within seconds."""
    import socket
    import threading

    from confluent_kafka import Producer

    from producer.app import SIGNAL_FLUSH_BUDGET, Run, RunSettings
    from producer.sinks.base import Record
    from producer.sinks.kafka import KafkaSink

    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = Run(RunSettings(scenario="steady_state", sink="file", out=tmp_path, metrics_port=None))
    sink = KafkaSink(run.stats, f"127.0.0.1:{port}", {}, stop=run.stop)
    sink._producer = Producer(sink.producer_conf())  # as open() leaves it, without waiting for a broker
    sink.write([Record("t", b"k", b"v", 0)])
    with run._exit:
        run._install_signals()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        remaining = run._flush(sink)
        took = time.monotonic() - started
    assert remaining == 1 and run.stop.is_set()
    assert took < SIGNAL_FLUSH_BUDGET + 5.5, took  # the budget, then librdkafka's purge
