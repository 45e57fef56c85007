"""List fills from the order database, newest first (table, --json or --csv)."""

from __future__ import annotations

from scripts.history import add_fills_arguments as add_arguments
from scripts.history import run_fills as run

__all__ = ["add_arguments", "run"]
