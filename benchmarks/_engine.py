"""Start an engine against the simulator process with a fresh SQLite file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmarks._common import TIER
from benchmarks._sim import SimProcess
from engine import Engine, EngineConfig

__all__ = ["engine_config", "start_engine", "tier_option"]


def engine_config(
    sim: SimProcess, key: str, secret: str, database: Path, **overrides: Any
) -> EngineConfig:
    values: dict[str, Any] = {
        "api_key": key,
        "api_secret": secret,
        "ws_url": sim.ws_url,
        "rest_url": sim.rest_url,
        "database_url": f"sqlite:///{database}",
        "request_timeout": 30.0,
        "dead_mans_switch_timeout": 0,
        "attach_default_listeners": False,
        **tier_option(),
    }
    values.update(overrides)
    return EngineConfig(**values)


def tier_option() -> dict[str, Any]:
    """The engine's own rate counter must match the simulator's tier (unlimited)."""
    names = {f.name for f in dataclasses.fields(EngineConfig)}
    return {"rate_limit_tier": TIER} if "rate_limit_tier" in names else {}


def start_engine(
    sim: SimProcess, key: str, secret: str, database: Path, **overrides: Any
) -> Engine:
    """Started and connected (authenticated, executions subscribed)."""
    engine = Engine(engine_config(sim, key, secret, database, **overrides)).start()
    try:
        engine.connect(timeout=30)
    except BaseException:
        engine.stop()
        raise
    return engine
