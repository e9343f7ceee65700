"""Domain generators stay pure: no I/O, clock, global randomness or Kafka/metrics clients."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAINS = Path(__file__).resolve().parents[3] / "producer" / "domains"
FORBIDDEN = {"confluent_kafka", "prometheus_client", "time", "os", "socket", "random", "requests", "httpx"}


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names of every module a parsed file imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


MODULES = sorted(DOMAINS.rglob("*.py"))  # every domain package, common included


def test_domain_modules_exist() -> None:
    assert any(m.relative_to(DOMAINS) == Path("common/base.py") for m in MODULES)
    assert len(MODULES) > 25  # the packages' modules, not only the top level


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(DOMAINS)))
def test_domain_module_imports_nothing_impure(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    assert not imported_modules(tree) & FORBIDDEN


def test_the_check_catches_forbidden_imports() -> None:
    tree = ast.parse("import os.path\nfrom time import monotonic\nimport numpy as np\n")
    assert imported_modules(tree) & FORBIDDEN == {"os", "time"}
