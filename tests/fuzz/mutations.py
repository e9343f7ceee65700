"""A deterministic mutator of the bundled scenarios: bad (and odd) scenario files as bytes.

`mutants(n, seed)` is the stable entry point: the same n and seed give the same files, whatever
the machine. Structural mutations edit the parsed document and dump it again; text mutations
work on the YAML text or bytes (encodings, anchors, duplicate keys, deep nesting, garbage).
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
_PLACEHOLDER = "__FUZZ_PLACEHOLDER__"
_KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):[ ]\S")

HUGE_NUMBERS: list[Any] = [1e308, 10**400, -1, -(10**30), 2**63, 1.7976931348623157e308, "1e308", "1e999", 10**4000]
NON_FINITE: list[Any] = [float("nan"), float("inf"), float("-inf"), "nan", "inf", "-Infinity"]
TINY_DURATIONS: list[Any] = ["1ms", 0.000001, "0.000001", "0.000001s", 1e-300, 5e-324, "0.0001ms"]
HUGE_DURATIONS: list[Any] = [10**400, 1e308, "1e308", "9" * 400 + "d", 10**20, "100000000000d"]
WEIGHTS: list[Any] = [1e-12, 5e-324, float("inf"), 0, -1, 1e308, float("nan")]
CLOCK_STARTS: list[Any] = ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01", "9999-12-31T23:59:59.999999Z"]
CLOCK_SPEEDS: list[Any] = [1e300, 1e-300, 5e-324, float("inf"), 0]
DURATION_KEYS = ("duration", "event_duration", "period", "at", "start", "mean", "max", "out_of_order_max")
TYPE_SWAPS: list[Any] = ["a string", 7, 2.5, True, None, [], {}, [1, 2], {"k": "v"}, "", "0s"]


def bundled_texts() -> dict[str, str]:
    """The bundled scenarios' YAML text by scenario name."""
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(SCENARIOS_DIR.glob("*.yaml"))}


def slots(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, Any, tuple[Any, ...]]]:
    """Every (container, key, path) in a parsed document, depth first."""
    out: list[tuple[Any, Any, tuple[Any, ...]]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in list(items):
        out.append((doc, key, (*path, key)))
        out.extend(slots(value, (*path, key)))
    return out


def _mappings(doc: Any) -> list[dict[str, Any]]:
    """Every mapping in a parsed document, the document itself included."""
    found = [doc] if isinstance(doc, dict) else []
    return found + [v for c, k, _ in slots(doc) if isinstance(v := c[k], dict)]


def _set_where(rng: random.Random, doc: Any, keys: tuple[str, ...], values: list[Any]) -> bool:
    """Set one random slot whose key is in `keys` to one of `values`; False if there is none."""
    found = [(c, k) for c, k, _ in slots(doc) if k in keys]
    if not found:
        return False
    container, key = rng.choice(found)
    container[key] = copy.deepcopy(rng.choice(values))
    return True


def _delete_key(rng: random.Random, doc: Any) -> str:
    container, key = rng.choice([(c, k) for c, k, _ in slots(doc) if isinstance(c, dict)])
    del container[key]
    return "delete-key"


def _swap_type(rng: random.Random, doc: Any) -> str:
    container, key, _ = rng.choice(slots(doc))
    container[key] = copy.deepcopy(rng.choice(TYPE_SWAPS))
    return "swap-type"


def _unknown_key(rng: random.Random, doc: Any) -> str:
    target = rng.choice(_mappings(doc))
    # a copy: a shared TYPE_SWAPS container mutated later would change every later mutant (and can form cycles)
    target[rng.choice(["colour", "wieght", "x" * rng.choice([1, 300, 5000]), "params", "1"])] = copy.deepcopy(
        rng.choice(TYPE_SWAPS)
    )
    return "unknown-key"


def _huge_number(rng: random.Random, doc: Any) -> str:
    container, key, _ = rng.choice(slots(doc))
    container[key] = rng.choice(HUGE_NUMBERS)
    return "huge-number"


def _non_finite(rng: random.Random, doc: Any) -> str:
    numeric = [(c, k) for c, k, _ in slots(doc) if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)]
    container, key = rng.choice(numeric or [(c, k) for c, k, _ in slots(doc)])
    container[key] = rng.choice(NON_FINITE)
    return "non-finite"


def _odd_duration(rng: random.Random, doc: Any) -> str:
    kind, values = rng.choice([("tiny", TINY_DURATIONS), ("huge", HUGE_DURATIONS)])
    if not _set_where(rng, doc, DURATION_KEYS, values):
        doc["phases"] = [{"name": "p", "duration": rng.choice(values), "rate": 10}]
    return f"{kind}-duration"


def _odd_weight(rng: random.Random, doc: Any) -> str:
    keys = ("weight", "multiplier", "late_share", "duplicate_share") if rng.random() < 0.3 else ("weight",)
    _set_where(rng, doc, keys, WEIGHTS)
    return "odd-weight"


def _extreme_clock(rng: random.Random, doc: Any) -> str:
    clock = doc.get("clock")
    if not isinstance(clock, dict):
        clock = doc["clock"] = {}
    if rng.random() < 0.5:
        clock["start"] = rng.choice(CLOCK_STARTS)
    else:
        clock["speed"] = rng.choice(CLOCK_SPEEDS)
    return "extreme-clock"


StructuralMutation = Callable[[random.Random, Any], str]
STRUCTURAL: list[StructuralMutation] = [
    _delete_key,
    _swap_type,
    _unknown_key,
    _huge_number,
    _non_finite,
    _odd_duration,
    _odd_weight,
    _extreme_clock,
]


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=1_000_000, allow_unicode=True)


def _with_placeholder(rng: random.Random, text: str, replacement: str) -> str:
    """The document with one random value replaced by `replacement` (raw YAML flow text)."""
    doc = yaml.safe_load(text)
    container, key, _ = rng.choice(slots(doc))
    container[key] = _PLACEHOLDER
    return _dump(doc).replace(_PLACEHOLDER, replacement, 1)


def _deep_nesting(rng: random.Random, text: str) -> bytes:
    depth = rng.choice([65, 100, 800, 1000, 5000, 50_000])
    inner = "[" * depth + "1" + "]" * depth if rng.random() < 0.5 else "{a: " * depth + "1" + "}" * depth
    return _with_placeholder(rng, text, inner).encode()


def _anchor_bomb(rng: random.Random, text: str) -> bytes:
    """The billion-laughs shape, inline at one value: each level lists the previous one ten times."""
    levels = rng.choice([4, 6, 9, 12])
    leaf = rng.choice(["lol", "x" * 100, "1"])
    parts = [f"&l0 [{', '.join([leaf] * 10)}]"]
    parts += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return _with_placeholder(rng, text, f"[{', '.join(parts)}]").encode()


def _duplicate_key(rng: random.Random, text: str) -> bytes:
    lines = _dump(yaml.safe_load(text)).splitlines()
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    i = rng.choice(candidates)
    indent, key = _KEY_LINE.match(lines[i]).groups()  # type: ignore[union-attr]
    lines.insert(i + 1, f"{indent}{key}: {rng.choice(['1', 'x', '[1, 2]', lines[i].split(':', 1)[1].strip()])}")
    return ("\n".join(lines) + "\n").encode()


def _non_utf8(rng: random.Random, text: str) -> bytes:
    data = text.encode()
    choice = rng.randrange(4)
    if choice == 0:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(0x80, 0x100)]) + data[at:]
    if choice == 1:
        return b"name: x\n\xff: 1\n"
    if choice == 2:
        return text.replace("a", "\u00e9", 3).encode("latin-1", errors="replace")
    return text.encode("utf-16")


def _garbage(rng: random.Random, text: str) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return b""
    if choice == 1:
        return _dump([yaml.safe_load(text)]).encode()
    if choice == 2:
        return rng.randbytes(rng.randrange(1, 4096))
    if choice == 3:
        data = text.encode()
        at = rng.randrange(len(data))
        return data[:at] + b"\x00" + data[at:]
    if choice == 4:
        return rng.choice([b"42\n", b"~\n", b"'just a string'\n", b"---\n...\n", b"a: 1\n---\nb: 2\n", b"- &a [*a]\n"])
    return text[: rng.randrange(len(text))].encode()


TextMutation = Callable[[random.Random, str], bytes]
TEXT: list[TextMutation] = [_deep_nesting, _anchor_bomb, _duplicate_key, _non_utf8, _garbage]


def _structural(rng: random.Random, text: str) -> tuple[str, bytes]:
    doc = yaml.safe_load(text)
    kinds = [rng.choice(STRUCTURAL)(rng, doc) for _ in range(rng.choice([1, 1, 1, 2, 3])) if slots(doc)]
    return "+".join(kinds), _dump(doc).encode()


def mutants(n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """`n` mutated scenario files as (name, content), the same for the same n and seed."""
    rng = random.Random(seed)
    texts = bundled_texts()
    names = sorted(texts)
    for i in range(n):
        scenario = names[i % len(names)]
        if rng.random() < 0.6:
            kind, content = _structural(rng, texts[scenario])
        else:
            mutation = rng.choice(TEXT)
            kind, content = mutation.__name__.strip("_").replace("_", "-"), mutation(rng, texts[scenario])
        yield f"{i:04d}-{scenario}-{kind}", content
