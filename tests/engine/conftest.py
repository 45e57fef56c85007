"""Fixtures for end-to-end engine tests: the real simulator, a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config

from engine import Engine
from engine.simulator import Simulator


@pytest.fixture
def make_engine(sim: Simulator, tmp_path: Path) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def factory(**overrides: Any) -> Engine:
        values: dict[str, Any] = {"request_timeout": 5.0, "attach_default_listeners": True}
        values.update(overrides)
        engine = Engine(engine_config(sim, tmp_path, **values))
        engines.append(engine)
        engine.start()
        return engine

    yield factory
    for engine in engines:
        engine.stop()
