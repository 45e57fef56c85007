"""List orders from the order database, newest first (table, --json or --csv)."""

from __future__ import annotations

from scripts.history import add_orders_arguments as add_arguments
from scripts.history import run_orders as run

__all__ = ["add_arguments", "run"]
