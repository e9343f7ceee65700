"""Fuzzed scenario files that `validate` accepts also run, at --rate max and paced until SIGTERM (file sink)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.datagen_processes import GRACE, ROOT, run_file, terminate_all


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
        "import sys, json; from tests.integration.test_fuzzed_scenarios_run import drive; "
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
            # a hang detector, not a speed bound: each lifecycle_replay mutant's first replay block (whole
            # lifecycles, which --duration cannot cut short) takes 10-20 s on a loaded 2-core machine, and
            # 120 s fired there with every run healthy
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"a fuzzed run hung; last started: {out.strip().splitlines()[-1:]}")
        assert "Traceback" not in err, err[-3000:]
        results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        codes = {r["path"]: r["code"] for r in results if "code" in r}
        assert proc.returncode == 0 and all(c == 0 for c in codes.values()), (codes, err[-2000:])
    # a few of them paced at their own rate, stopped by SIGTERM
    paced = {p.stem: run_file(p, tmp_path / f"paced-{p.stem}") for p in paths[:3]}
    for name, (code, took, err) in terminate_all(paced, after=1.5).items():
        assert "Traceback" not in err and code == 0 and took < GRACE, (name, code, took, err[-1500:])
