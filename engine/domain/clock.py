"""The clock the core never reads itself: actors hold one and pass `now` down.

The real clock lives in `actors/clock.py`; tests use a fake they advance by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["Clock"]


class Clock(Protocol):
    """Wall time for records, monotonic time for schedules and timeouts."""

    def now(self) -> datetime:
        """Aware UTC wall time: what gets stored and shown."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards: what timers and budgets measure."""
        ...
