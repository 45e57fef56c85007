"""kraken-router: an order-routing engine for Kraken Spot.

    from engine import Engine, EngineConfig

The public surface is `Engine`, `EngineConfig`, the error tree in `engine.errors` and the
response types; everything else is internal. The two names are loaded on first use so that the
pure core (`engine.kraken`, `engine.domain`) imports without pulling in actors or SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.api import Engine
    from engine.config import EngineConfig

__all__ = ["Engine", "EngineConfig"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from engine.api import Engine

        return Engine
    if name == "EngineConfig":
        from engine.config import EngineConfig

        return EngineConfig
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
