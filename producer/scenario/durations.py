"""Parsing of human durations ("30s", "5m", "1h30m") and rates ("2000", "max")."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
DURATION_HINT = "a duration like 30s, 5m, 1h30m or 2d (or a number of seconds)"


def parse_duration(value: object) -> float:
    """Seconds in a duration given as a number or a string such as "90s" or "1h30m"; ValueError if bad."""
    if isinstance(value, bool):
        raise ValueError(DURATION_HINT)
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float range (10**400): not a duration datagen can play
            raise ValueError("a positive, finite duration") from None
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(DURATION_HINT) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(DURATION_HINT)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError("a positive, finite duration")
    return seconds


def format_duration(seconds: float) -> str:
    """A compact human form of a duration in seconds ("1h30m", "45s", "250ms")."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    out, rest = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if rest >= size:
            count = int(rest // size)
            out.append(f"{count}{unit}")
            rest -= count * size
    if rest or not out:
        out.append(f"{rest:g}s")
    return "".join(out)
