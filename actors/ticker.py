"""A thread that tells an actor `Tick` at a fixed interval.

Timers live outside the actors so that an actor's logic stays a pure reaction to messages: tests
send `Tick` by hand instead of waiting for this thread.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from actors.messages import Tick

__all__ = ["Ticker"]


class _Tellable(Protocol):
    def tell(self, message: Any) -> None: ...


class Ticker:
    def __init__(self, target: _Tellable, interval: float, name: str) -> None:
        self._target = target
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._target.tell(Tick())
            except Exception:  # the actor is gone: nothing left to tick
                return
