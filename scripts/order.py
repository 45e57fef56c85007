"""Show one order's timeline: the order, then its events and fills in order."""

from __future__ import annotations

from scripts.history import add_order_arguments as add_arguments
from scripts.history import run_order as run

__all__ = ["add_arguments", "run"]
