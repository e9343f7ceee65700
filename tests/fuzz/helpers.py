"""One check shared by the fuzz tests: `datagen validate` either accepts a file or says why in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.cli import main
from producer.scenario.loader import UNCHECKED

PREFIX = "datagen: error: "
MAX_LINE = 500


def validate_problem(path: Path, capsys: pytest.CaptureFixture[str]) -> str | None:
    """Run `datagen validate path` in-process; None if it behaved, else what went wrong."""
    capsys.readouterr()  # drop anything an earlier example left
    try:
        code = main(["validate", str(path)])
    except BaseException as exc:  # anything escaping main would be a traceback
        return f"{type(exc).__name__} escaped: {str(exc)[:200]}"
    out, err = capsys.readouterr()
    lines = err.splitlines()
    if code == 0:
        return None if not err and out.startswith(f"{path}: ok") else f"exit 0 with stderr {err[:200]!r}"
    if code != 2:
        return f"exit {code}"
    if len(lines) != 1 or not lines[0].startswith(PREFIX) or len(lines[0]) >= MAX_LINE:
        return f"exit 2 with {len(lines)} line(s), {len(err)} characters: {err[:200]!r}"
    if f"expected {UNCHECKED}" in lines[0]:  # the loader's backstop caught what a check should have
        return f"an unanticipated exception: {lines[0][:300]}"
    return None
