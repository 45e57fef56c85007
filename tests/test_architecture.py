"""The dependency rule of DESIGN.md, enforced on the source: the pure core stays pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPURE = {"pykka", "websocket", "sqlalchemy", "alembic", "threading", "socket", "time", "random",
          "requests", "actors", "persistence"}  # fmt: skip
# package -> top-level packages (or engine subpackages) it must never import
FORBIDDEN = {
    "engine/domain": IMPURE | {"engine.kraken", "engine.api", "engine.simulator"},
    "engine/kraken": IMPURE | {"engine.api", "engine.simulator"},
    "persistence": {"actors", "engine.api", "engine.simulator", "pykka", "websocket"},
    "actors": {"engine.api", "engine.simulator", "scripts"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_dependency_rule(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, package
    violations = []
    for path in files:
        for name in _imports(path):
            for banned in FORBIDDEN[package]:
                if name == banned or name.startswith(banned + "."):
                    violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []
