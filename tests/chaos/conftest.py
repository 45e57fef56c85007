"""Fixtures of the chaos tests: a simulator (tier `unlimited`) and engines on one database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chaos_support import TIER, chaos_values

from engine import Engine, EngineConfig
from engine.simulator import Simulator


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'orders.db'}"


@pytest.fixture
def make_engine(sim: Simulator, database_url: str) -> Iterator[Callable[..., Engine]]:
    """Start engines on the test's database (stopped afterwards); the tier is always named."""
    assert sim.control.state()["tier"] == TIER
    engines: list[Engine] = []

    def factory(**overrides: Any) -> Engine:
        engine = Engine(EngineConfig(**chaos_values(sim, database_url, **overrides)))
        engines.append(engine)
        engine.start()
        return engine

    yield factory
    for engine in engines:
        engine.stop()
