"""The engine configuration end-to-end tests start from: the simulator's endpoints and
credentials, a SQLite file, no dead man's switch, no default listeners (importable by every
test: the root conftest puts this directory on `sys.path`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import EngineConfig
from engine.simulator import Simulator


def engine_config(
    sim: Simulator, tmp_path: Path, tier: str = "unlimited", **extra: Any
) -> EngineConfig:
    values: dict[str, Any] = {
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "ws_url": sim.ws_url,
        "rest_url": sim.rest_url,
        "database_url": f"sqlite:///{tmp_path / 'orders.db'}",
        "dead_mans_switch_timeout": 0,
        "rate_limit_tier": tier,
        "attach_default_listeners": False,
    }
    values.update(extra)
    return EngineConfig(**values)


def limit_buy(**extra: Any) -> dict[str, Any]:
    """A resting limit buy below the simulator's reference price; `extra` adds or replaces."""
    fields: dict[str, Any] = {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("1.2"),
        "limit_price": Decimal("26500.4"),
    }
    fields.update(extra)
    return fields
