"""A wheel installed anywhere finds its schemas and scenarios; the package list stays complete."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import fastavro
import pytest

from producer._data import bundled_dir
from producer.encoding.schemas import schemas_dir
from producer.scenario.loader import bundled_names, resolve_path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["drift_ramp", "fraud_burst", "lifecycle_replay", "steady_state", "stress_test"]
PACKAGE_DIR = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_pyproject_lists_every_package_under_producer():
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "producer").rglob("__init__.py")}
    listed = set(PACKAGE_DIR["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    mapped = PACKAGE_DIR["package-dir"]
    assert mapped == {"producer._data.schemas": "schemas", "producer._data.scenarios": "scenarios"}
    assert listed - on_disk == set(mapped)


def test_a_checkout_reads_the_top_level_folders():
    # the editable install and a bare checkout read the source of truth, not a copy
    assert bundled_dir("schemas") == ROOT / "schemas"
    assert bundled_dir("scenarios") == ROOT / "scenarios"
    assert bundled_names() == SCENARIOS


def test_schemas_dir_override_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_SCHEMAS_DIR", str(tmp_path))
    assert schemas_dir() == tmp_path


def test_unknown_scenario_name_lists_the_bundled_ones(tmp_path, monkeypatch):
    from producer.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    assert resolve_path("steady_state") == ROOT / "scenarios" / "steady_state.yaml"
    with pytest.raises(ConfigError, match=r"one of: drift_ramp, fraud_burst, .*stress_test"):
        resolve_path("steady_stat")
    (tmp_path / "mine.yml").write_text("x: 1\n")
    assert resolve_path("mine.yml") == Path("mine.yml")  # a user's path is taken as given


def _run(command: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run a command, fail the test with its output when it exits non-zero."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATAGEN_", "KAFKA_", "SCHEMA_REGISTRY_")) and k != "PYTHONPATH"
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout (pip builds it in an isolated environment, as for users)."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)]
    _run(command, cwd=out, timeout=300)
    (found,) = out.glob("datagen-*.whl")
    return found


def test_wheel_carries_schemas_and_scenarios(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for scenario in SCENARIOS:
        assert f"producer/_data/scenarios/{scenario}.yaml" in names
    for schema in (ROOT / "schemas").rglob("*.avsc"):
        assert f"producer/_data/schemas/{schema.relative_to(ROOT / 'schemas').as_posix()}" in names
    assert not any(name.startswith(("schemas/", "scenarios/", "tests/")) for name in names)


def test_wheel_in_a_fresh_venv_runs_from_an_empty_directory(wheel, tmp_path):
    venv = tmp_path / "venv"
    # dependencies come from this environment (no network); pip too: the venv is made without one
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], cwd=tmp_path)
    python, datagen = venv / "bin" / "python", venv / "bin" / "datagen"
    # -I: install into the venv beside (never uninstalling) the editable datagen of this environment
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-I", str(wheel)], cwd=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import producer; print(producer.__file__)"], cwd=empty).strip()
    assert Path(where).is_relative_to(venv), f"the venv imports {where}, not the wheel's copy"

    listing = _run([str(datagen), "list"], cwd=empty)
    bundled = listing.split("bundled scenarios:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in bundled] == SCENARIOS
    assert "steady_state.yaml: ok" in _run([str(datagen), "validate", "steady_state"], cwd=empty)
    assert str(venv) in _run([str(datagen), "validate", "steady_state"], cwd=empty)  # read from the wheel's copy

    _run(
        [str(datagen), "run", "steady_state", "--sink", "file", "--out", "D", "--events", "2000", "--no-metrics"],
        cwd=empty,
    )
    files = sorted((empty / "D").glob("*.avro"))
    assert files, "the file sink wrote no .avro file"
    total = 0
    for path in files:
        with path.open("rb") as handle:
            total += sum(1 for _ in fastavro.reader(handle))
    assert total == 2000
