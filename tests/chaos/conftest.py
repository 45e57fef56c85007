"""Fixtures of the chaos tests: a simulator (tier `unlimited`) and engines on one database,
SQLite or PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chaos_support import TIER, chaos_values
from pg_support import private_schema

from engine import Engine, EngineConfig
from engine.simulator import Simulator
from persistence import db


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every chaos test on both dialects: users run PostgreSQL when many processes share the
    history, and the promise (nothing lost, nothing duplicated, every final state true) is the
    same there. PostgreSQL gets a private schema, migrated as an operator would
    (`kraken-router db upgrade`): the engine refuses to migrate it itself."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orders.db'}"
        return
    with private_schema("kr_chaos") as url:
        database = db.make_engine(url)
        try:
            db.upgrade(database)
        finally:
            database.dispose()
        yield url


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
