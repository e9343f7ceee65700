"""1,000 mutated bundled scenarios through `datagen validate`: exit 0, or exit 2 with one short line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fuzz.helpers import MAX_LINE, PREFIX, validate_problem
from tests.fuzz.mutations import mutants

COUNT = 1000
SEED = 0


def test_mutants_are_deterministic():
    first = list(mutants(60, seed=3))
    assert first == list(mutants(60, seed=3))
    assert first != list(mutants(60, seed=4))
    assert len({name for name, _ in first}) == 60


def test_a_thousand_mutants_never_crash_validate(tmp_path, capsys):
    problems: list[str] = []
    for name, content in mutants(COUNT, SEED):
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        problem = validate_problem(path, capsys)
        if problem:
            problems.append(f"{name}: {problem}")
        path.unlink()
    assert not problems, f"{len(problems)} of {COUNT} mutants misbehaved, e.g.:\n" + "\n".join(problems[:10])


def test_the_real_process_prints_no_traceback(tmp_path):
    """A few of the nastiest mutants through `python -m producer validate` in a real process."""
    wanted = ("non-utf8", "deep-nesting", "anchor-bomb", "duplicate-key", "garbage")
    chosen: dict[str, bytes] = {}
    for name, content in mutants(200, SEED):
        kind = next((k for k in wanted if name.endswith(k)), None)
        if kind and kind not in chosen:
            chosen[kind] = content
    assert sorted(chosen) == sorted(wanted)
    paths = []
    for kind, content in chosen.items():
        paths.append(tmp_path / f"{kind}.yaml")
        paths[-1].write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "producer", "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert len(lines) == len(paths), result.stderr[:2000]
    assert all(line.startswith(PREFIX) and len(line) < MAX_LINE for line in lines)


@pytest.mark.parametrize("content", [b"", b"- a\n- list\n", b"\x00\x01\x02binary", b"42\n"])
def test_odd_whole_files(tmp_path, capsys, content):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    assert validate_problem(path, capsys) is None
