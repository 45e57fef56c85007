"""The protocol core stays pure: no clocks, threads, sockets, randomness, HTTP or database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import engine.kraken

FORBIDDEN = {
    "time",
    "threading",
    "socket",
    "random",
    "requests",
    "sqlalchemy",
    "pykka",
    "websocket",
    "asyncio",
    "secrets",
    "uuid",
}
MODULES = ["envelope", "trading", "control", "executions", "rest", "pairs", "venue_errors"]


@pytest.mark.parametrize("name", MODULES)
def test_no_impure_imports(name: str) -> None:
    path = Path(engine.kraken.__file__).parent / f"{name}.py"
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
