"""Fixtures for end-to-end engine tests: the real simulator, a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, EngineConfig
from engine.simulator import Simulator


@pytest.fixture
def make_engine(sim: Simulator, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def factory(**overrides: Any) -> Engine:
        values: dict[str, Any] = {
            "api_key": sim.api_key,
            "api_secret": sim.api_secret,
            "ws_url": sim.ws_url,
            "rest_url": sim.rest_url,
            "database_url": f"sqlite:///{tmp_path / 'orders.db'}",
            "request_timeout": 5.0,
            "dead_mans_switch_timeout": 0,
            "rate_limit_tier": "unlimited",
        }
        values.update(overrides)
        engine = Engine(EngineConfig(**values))
        engines.append(engine)
        engine.start()
        return engine

    yield factory
    for engine in engines:
        engine.stop()
