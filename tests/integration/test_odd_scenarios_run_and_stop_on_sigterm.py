"""Whatever `validate` accepts, `run` runs; the first SIGTERM ends any run within 10 s (file sink, no broker).

Each case is a real `python -m producer run` in a subprocess; they run side by side to keep this quick.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.datagen_processes import GRACE, ROOT, run_file, scenario, terminate_all

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


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", "validate", str(path)],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


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
    procs = {name: run_file(path, tmp_path / name) for name, path in accepted.items()}
    results = terminate_all(procs, after=1.5)
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
    proc = run_file(Path("steady_state"), tmp_path)
    ((code, took, err),) = terminate_all({"steady_state": proc}, after=1.5).values()
    assert code == 0 and took < GRACE and "Traceback" not in err, (code, took, err)


def test_event_time_past_year_9900_ends_the_run_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(
        scenario("late", start="9000-01-01T00:00:00Z", speed="1000000", rate="0.01", duration="1e10").replace(
            "repeat: forever\n", ""
        )
    )
    proc = run_file(path, tmp_path / "out", "--rate", "max")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "ended_by=event-time-limit" in out, out
    last = (tmp_path / "out" / "fintech.transactions.jsonl").read_text().splitlines()[-1]
    assert "9899" >= json.loads(last)["timestamp"][:4] >= "9000"
