"""One root exception for datagen, with subclasses that map to exit codes."""

from __future__ import annotations


class DatagenError(Exception):
    """Root of every error datagen raises on purpose."""

    exit_code: int = 1


class ConfigError(DatagenError):
    """A scenario file or a flag is invalid: one precise message, exit code 2.

    The message is one line under MAX_MESSAGE characters whatever the input: the found value is
    quoted with repr and cut to FOUND_LIMIT characters, every other part is cut too.
    """

    exit_code = 2

    def __init__(self, source: str, path: str, expected: str, found: object) -> None:
        self.source = source
        self.path = path
        self.expected = expected
        self.found = found
        quoted = quote(found)
        budget = MAX_MESSAGE - len(quoted) - len(": : expected , found ")
        source_part, path_part, expected_part = _fit(
            [_printable(source), _printable(path), _printable(expected)], budget
        )
        where = f"{source_part}: {path_part}" if path else source_part
        super().__init__(f"{where}: expected {expected_part}, found {quoted}")


MAX_MESSAGE = 480  # characters; "datagen: error: " in front keeps the printed line under 500
FOUND_LIMIT = 200
_CUT_MARK = 30  # room for " (cut, 5,000,000 characters)"


def quote(value: object, limit: int = FOUND_LIMIT) -> str:
    """repr of a value found in the input, cut to `limit` characters and marked as cut."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's 4300-digit str limit
        return f"an integer of {value.bit_length():,} bits" if isinstance(value, int) else "an unprintable value"
    except RecursionError:
        return "a value nested too deep to print"
    return _cut(_printable(text), limit)


def _cut(text: str, limit: int) -> str:
    """`text` if short enough, else its first `limit` characters marked as cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (cut, {len(text):,} characters)"


def _fit(parts: list[str], budget: int) -> list[str]:
    """The parts, the longest ones cut so that together they take at most `budget` characters."""
    out = list(parts)
    left, count = budget, len(parts)
    for i in sorted(range(len(parts)), key=lambda i: len(parts[i])):
        share = left // count
        if len(parts[i]) > share:
            out[i] = _cut(parts[i], max(share - _CUT_MARK, 10))
        left -= len(out[i])
        count -= 1
    return out


def _printable(text: str) -> str:
    """`text` on one line: newlines and other control characters escaped."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Plain(str):
    """A description of what was found ("deeper nesting"), shown as is rather than quoted."""

    def __repr__(self) -> str:
        return str(self)


class UsageError(DatagenError):
    """A command-line usage problem that is not about a single field."""

    exit_code = 2


class BrokerUnavailable(DatagenError):
    """The broker or schema registry could not be reached in the allowed time."""

    exit_code = 3


class DeliveryError(DatagenError):
    """Events failed delivery; the first failure is kept as the cause."""

    exit_code = 4
