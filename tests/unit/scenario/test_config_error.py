"""ConfigError keeps every message to one short line, whatever it is given."""

from __future__ import annotations

import pytest

from producer.errors import MAX_MESSAGE, ConfigError, Plain


def test_a_short_message_is_left_alone():
    error = ConfigError("s.yaml", "phases[0].rate", "a positive number", -5)
    assert str(error) == "s.yaml: phases[0].rate: expected a positive number, found -5"
    assert (
        str(ConfigError("s.yaml", "", "valid YAML", Plain("no such file")))
        == "s.yaml: expected valid YAML, found no such file"
    )


def test_the_found_part_is_cut_to_200_characters_and_marked():
    message = str(ConfigError("s.yaml", "name", "a name", "a" * 5_000_000))
    assert message.endswith(", found '" + "a" * 199 + "… (cut, 5,000,002 characters)")


@pytest.mark.parametrize(
    ("source", "path", "expected", "found"),
    [
        ("s.yaml", "x", "one of: " + ", ".join(f"key_{i}" for i in range(2000)), "k"),
        ("/tmp/" + "d/" * 500 + "s.yaml", "a." * 500, "e" * 10_000, ["x"] * 100_000),
        ("s.yaml", "p\nq", "two\nlines", Plain("three\nlines\nhere")),
        ("s.yaml", "big", "an int", 10**5000),  # beyond the 4300-digit str() limit
    ],
    ids=["long-expected", "everything-long", "newlines", "huge-int"],
)
def test_any_message_is_one_line_under_the_limit(source, path, expected, found):
    message = str(ConfigError(source, path, expected, found))
    assert len(message) <= MAX_MESSAGE and "\n" not in message
    assert message.startswith(source[:20])


def test_a_recursive_value_still_prints():
    loop: list[object] = []
    loop.append(loop)
    assert str(ConfigError("s.yaml", "x", "a list", loop)).endswith("found [[...]]")
