"""A YAML loader for untrusted scenario files: bounded nesting, no duplicate keys, no alias bombs.

pyyaml's composer recurses once per nesting level and its constructor shares aliased nodes, so a
small file can crash it (RecursionError) or expand into billions of values downstream (pydantic
and error messages walk the data as a tree). ScenarioLoader bounds depth while composing;
NodeChecker walks the composed node graph once (memoised, so aliases cost nothing) before any
Python object is built and rejects duplicate keys, non-finite numbers, cycles and runaway aliases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from producer.errors import Plain

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64  # levels of nesting; the bundled scenarios use 6
MAX_VALUES = 100_000  # values once aliases are expanded; the bundled scenarios have a few hundred
MAX_CHARS = 4_000_000  # scalar characters once aliases are expanded (the file itself is at most 1 MiB)
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class Rejected(Exception):
    """A problem found in the YAML structure, at a field path; the loader turns it into a ConfigError."""

    def __init__(self, path: str, expected: str, found: object) -> None:
        super().__init__(path, expected, found)
        self.path, self.expected, self.found = path, expected, found


def _segment(index: Any) -> str:
    """One step of a field path: ".key" for a mapping value, "[i]" for a sequence item."""
    if isinstance(index, int):
        return f"[{index}]"
    if isinstance(index, ScalarNode):
        return f".{index.value}"
    return ".<key>" if index is None else ".<complex key>"


def dotted(segments: list[str]) -> str:
    """A field path from its segments ("phases[0].rate")."""
    return "".join(segments).lstrip(".")


class ScenarioLoader(yaml.SafeLoader):
    """SafeLoader that stops composing past MAX_DEPTH levels and reports odd scalars with their line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node, refusing to descend past MAX_DEPTH (pyyaml recurses here)."""
        if parent is not None:
            self._path.append(_segment(index))
        try:
            if len(self._path) > MAX_DEPTH:
                raise Rejected(
                    dotted(self._path[:8]) + "…", f"at most {MAX_DEPTH} levels of nesting", Plain("deeper nesting")
                )
            return super().compose_node(parent, index)
        finally:
            if parent is not None:
                self._path.pop()

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Construct one value; a scalar Python cannot hold (year 0, a 5000-digit int) is a YAML error."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"a value that cannot be read ({exc})", node.start_mark
            ) from None


@dataclass(frozen=True, slots=True)
class _Size:
    values: int
    chars: int
    height: int


class NodeChecker:
    """One memoised walk over a composed node graph; raises Rejected at the first problem."""

    def __init__(self) -> None:
        self._sizes: dict[int, _Size] = {}
        self._open: set[int] = set()
        self._aliased = False

    def check(self, node: Node) -> None:
        """Reject duplicate keys, non-finite floats, recursive aliases, and too deep or too large documents."""
        self._walk(node, [], 1)

    def _walk(self, node: Node, path: list[str], depth: int) -> _Size:
        known = self._sizes.get(id(node))
        if known is not None:
            self._aliased = True
        elif id(node) in self._open:
            raise Rejected(dotted(path), "a file without recursive aliases", Plain("an alias inside its own anchor"))
        else:
            known = self._measure(node, path, depth)
        if depth + known.height - 1 > MAX_DEPTH:
            raise Rejected(
                dotted(path), f"at most {MAX_DEPTH} levels of nesting (aliases expanded)", Plain("deeper nesting")
            )
        return known

    def _measure(self, node: Node, path: list[str], depth: int) -> _Size:
        self._open.add(id(node))
        if isinstance(node, ScalarNode):
            self._check_scalar(node, path)
            size = _Size(1, len(node.value), 1)
        else:
            children = self._children(node, path)
            sizes = [self._walk(child, [*path, step], depth + 1) for step, child in children]
            size = _Size(
                1 + sum(s.values for s in sizes),
                sum(s.chars for s in sizes),
                1 + max((s.height for s in sizes), default=0),
            )
        if size.values > MAX_VALUES or size.chars > MAX_CHARS:
            raise Rejected(
                dotted(path),
                f"a file without runaway aliases (at most {MAX_VALUES:,} values and "
                f"{MAX_CHARS:,} characters once aliases are expanded)",
                Plain(f"{size.values:,} values and {size.chars:,} characters"),
            )
        self._open.discard(id(node))
        self._sizes[id(node)] = size
        return size

    def _children(self, node: Node, path: list[str]) -> list[tuple[str, Node]]:
        """A collection's children with their path steps; duplicate mapping keys are rejected here."""
        if isinstance(node, SequenceNode):
            return [(f"[{i}]", item) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        seen: dict[tuple[str, str], int] = {}
        out: list[tuple[str, Node]] = []
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE_TAG:
                line, identity = key.start_mark.line + 1, (key.tag, key.value)
                if identity in seen:
                    raise Rejected(
                        dotted(path) or "(top level)",
                        f"each key once (line {line} repeats the key of line {seen[identity]})",
                        key.value,
                    )
                seen[identity] = line
            out += [(_segment(key), key), (_segment(key), value)]
        return out

    def _check_scalar(self, node: ScalarNode, path: list[str]) -> None:
        if node.tag != _FLOAT_TAG:
            return
        text = node.value.replace("_", "").lower().lstrip("+-")
        if text in (".inf", ".nan") or (":" not in text and not math.isfinite(float(text))):
            raise Rejected(dotted(path), "a finite number", node.value)
