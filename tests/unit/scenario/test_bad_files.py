"""Hostile scenario files: each one is a ConfigError with a short, one-line message, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from producer.cli import main
from producer.domains import STREAMS
from producer.errors import ConfigError
from producer.scenario.loader import load_scenario
from producer.scenario.safe_yaml import MAX_DEPTH

GOOD = """\
name: t
streams:
  fintech.transactions:
    weight: 1
    params: {fraud_injection_rate: 0.05}
phases:
  - {name: warm, duration: 30s, rate: 100}
"""
BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10 if i else ['lol'] * 10)}]\n" for i in range(10)
)  # billion laughs: 10**10 values once expanded, 700 bytes on disk


def error_for(tmp_path: Path, content: str | bytes) -> ConfigError:
    path = tmp_path / "s.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 480
    return info.value


def test_non_utf8_bytes_name_line_and_column(tmp_path):
    error = error_for(tmp_path, b"name: x\n\xff: 1\n")
    assert error.path == "line 2, column 1 (byte 8)"
    assert error.expected == "UTF-8 text" and error.found == b"\xff"


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_scenario(path).scenario.name == "t"


@pytest.mark.parametrize("shape", ["[" * 800 + "]" * 800, "{a: " * 5000 + "1" + "}" * 5000])
def test_deep_nesting_is_refused_with_the_path_prefix(tmp_path, shape):
    error = error_for(tmp_path, GOOD.replace("weight: 1", f"weight: {shape}"))
    assert error.path.startswith("streams.fintech.transactions.weight")
    assert error.expected == f"at most {MAX_DEPTH} levels of nesting"


def test_nesting_through_aliases_counts_too(tmp_path):
    chain = "".join(f"n{i}: &n{i} [*n{i - 1}]\n" if i else "n0: &n0 [1]\n" for i in range(MAX_DEPTH + 5))
    error = error_for(tmp_path, chain)
    assert "levels of nesting" in error.expected


def test_an_anchor_bomb_is_refused_in_one_short_line(tmp_path):
    error = error_for(tmp_path, BOMB)
    assert error.expected.startswith("a file without runaway aliases")
    assert error.path.startswith("l")


def test_a_recursive_alias_is_refused(tmp_path):
    assert error_for(tmp_path, "a: &a [*a]\n").expected == "a file without recursive aliases"


def test_duplicate_keys_are_refused_with_path_and_lines(tmp_path):
    text = GOOD.replace("params: {fraud_injection_rate: 0.05}", "params:\n      x: 1\n      x: 2")
    error = error_for(tmp_path, text)
    assert error.path == "streams.fintech.transactions.params"
    assert error.expected == "each key once (line 7 repeats the key of line 6)" and error.found == "x"
    assert str(error).endswith("found 'x'")


def test_duplicate_top_level_keys(tmp_path):
    assert error_for(tmp_path, "name: x\nname: y\n").path == "(top level)"


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("weight: 1", "weight: .inf", "streams.fintech.transactions.weight"),
        ("weight: 1", "weight: .nan", "streams.fintech.transactions.weight"),
        ("rate: 100", "rate: .inf", "phases[0].rate"),
        ("rate: 100", "rate: 1.0e+999", "phases[0].rate"),
        (
            "fraud_injection_rate: 0.05",
            "fraud_injection_rate: .nan",
            "streams.fintech.transactions.params.fraud_injection_rate",
        ),
    ],
)
def test_nan_and_infinity_are_refused_everywhere(tmp_path, old, new, path):
    error = error_for(tmp_path, GOOD.replace(old, new))
    assert error.path == path and "finite" in error.expected


def _numeric_leaves(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths of every number in a dumped params model."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numeric_leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path


def _nested(path: str, leaf: str) -> str:
    """A flow mapping that sets one dotted path ("a.b" -> "{a: {b: leaf}}")."""
    for part in reversed(path.split(".")):
        leaf = f"{{{part}: {leaf}}}"
    return leaf


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_nan_and_infinity_strings_are_refused_in_every_numeric_parameter(tmp_path, stream):
    """pydantic parses the strings "nan" and "1e999" into floats; none may pass, bounded field or not."""
    leaves = list(_numeric_leaves(STREAMS[stream].Params().model_dump()))
    assert leaves
    for leaf in leaves:
        for bad in ("nan", "'-1e999'", ".nan"):
            text = GOOD.replace("fintech.transactions", stream).replace(
                "{fraud_injection_rate: 0.05}", _nested(leaf, bad)
            )
            error = error_for(tmp_path, text)
            assert error.path.startswith(f"streams.{stream}.params."), (leaf, bad, str(error))


def test_an_infinity_string_in_a_numeric_field_is_refused(tmp_path):
    # pydantic parses the string '1e999' to inf; the multiplier's bound refuses it (and _check_finite
    # backs every other float up after validation)
    inject = "\n    inject: [{stream: fintech.transactions, pattern: fraud, multiplier: '1e999'}]"
    text = GOOD.replace(
        "  - {name: warm, duration: 30s, rate: 100}", "  - name: warm\n    duration: 30s\n    rate: 100" + inject
    )
    error = error_for(tmp_path, text)
    assert error.path == "phases[0].inject[0].multiplier" and error.expected in (
        "a finite number",
        "less than or equal to 1000000",
    )


def test_a_huge_integer_and_year_zero_are_yaml_errors_with_a_line(tmp_path):
    assert error_for(tmp_path, GOOD.replace("weight: 1", "weight: " + "9" * 5000)).path == "line 4, column 13"
    assert error_for(tmp_path, "name: 0000-01-01\n").path == "line 1, column 7"


def test_nul_and_unhashable_keys_and_oversized_files(tmp_path):
    assert error_for(tmp_path, "name: a\x00b\n").expected == "printable YAML text"
    assert error_for(tmp_path, "? [1, 2]\n: x\n").expected == "valid YAML"
    assert "at most 1,048,576 bytes" in error_for(tmp_path, "#" * (1 << 20) + "\n").expected


def test_a_long_found_value_is_cut_and_marked(tmp_path):
    error = error_for(tmp_path, GOOD.replace("name: t", "name: " + "a" * 500_000 + "!"))
    assert error.path == "name"
    assert str(error).endswith("… (cut, 500,003 characters)")


def test_huge_repeat_is_refused(tmp_path):
    assert error_for(tmp_path, GOOD + "repeat: " + "1" * 40 + "\n").path == "repeat"


def test_validate_checks_every_file_and_exits_2_if_any_is_bad(tmp_path, capsys):
    good, bad, worse = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "worse.yaml"
    good.write_text(GOOD)
    bad.write_bytes(b"name: x\n\xff: 1\n")
    worse.write_text(BOMB)
    assert main(["validate", str(bad), str(good), str(worse)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{good}: ok (scenario=t streams=1 phases=1)"]
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("datagen: error: ") for line in lines)
    assert str(bad) in lines[0] and str(worse) in lines[1]
    assert main(["validate", str(good), str(good)]) == 0
