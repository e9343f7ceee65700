"""Property: whatever YAML-ish document a scenario file holds, validate exits 0 or 2 with one short line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.helpers import validate_problem
from tests.fuzz.mutations import bundled_texts, slots

SKELETONS = [yaml.safe_load(text) for _, text in sorted(bundled_texts().items())]
FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "30s",
            "1ms",
            "0.000001",
            "max",
            "forever",
            "nan",
            "-inf",
            "1e999",
            "linear",
            "sigmoid",
            "ramp",
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:00:00Z",
            "fintech.transactions",
        ]
    )
)
keys = (
    st.text(max_size=12)
    | st.integers()
    | st.sampled_from(
        [
            "name",
            "streams",
            "phases",
            "weight",
            "params",
            "rate",
            "profile",
            "duration",
            "drift",
            "inject",
            "stream",
            "clock",
            "speed",
            "start",
            "curve",
            "pattern",
            "repeat",
            "mode",
            "disorder",
            "from",
            "to",
            "value",
            "steps",
        ]
    )
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@FUZZ
@given(document=documents)
def test_any_document_validates_or_fails_in_one_line(tmp_path, capsys, document):
    assert validate_problem(_write(tmp_path, document), capsys) is None


@FUZZ
@given(skeleton=st.sampled_from(SKELETONS), where=st.integers(min_value=0), value=documents, data=st.data())
def test_any_value_anywhere_in_a_valid_scenario(tmp_path, capsys, skeleton, where, value, data):
    """A valid scenario with one value replaced (or one key added), so validation gets deep."""
    document = yaml.safe_load(yaml.safe_dump(skeleton))  # a fresh copy
    found = slots(document)
    container, key, _ = found[where % len(found)]
    if isinstance(container, dict) and data.draw(st.booleans()):
        container[data.draw(keys)] = value
    else:
        container[key] = value
    assert validate_problem(_write(tmp_path, document), capsys) is None


@FUZZ
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes(tmp_path, capsys, content):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert validate_problem(path, capsys) is None
