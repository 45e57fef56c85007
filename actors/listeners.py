"""Engine events delivered to the strategy's handlers on a thread of their own.

Handlers are the strategy's code: a slow or failing handler must never delay the socket or the
order manager, so actors only enqueue events here and one dispatcher thread calls the handlers.
A handler that raises is logged and reported as an `exception` event; it is not retried.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENT_NAMES", "Event", "EventBus"]

log = logging.getLogger("kraken_router.events")

# a backlog of this many events not yet handled is logged, then each time it doubles: events are
# never dropped (an order event lost would mislead the strategy), so a handler slower than the
# order flow shows as lag and memory, and the log says so before either hurts
_BACKLOG_WARN = 1_000

EVENT_NAMES = frozenset(
    {
        "open",
        "authenticated",
        "reconnecting",
        "reconnected",
        "reconciled",
        "exception",
        "close",
        "order",
        "execution",
        "dead_mans_switch",
        "status",
        "rate_limit",
    }
)

Handler = Callable[["Event"], None]


@dataclass(frozen=True, slots=True)
class Event:
    """One notification: `name` is one of EVENT_NAMES; `data` depends on it."""

    name: str
    data: Any = None


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kraken-router-events", daemon=True)
        self._idle = threading.Condition()
        self._pending = 0
        self._warn_at = _BACKLOG_WARN

    @property
    def pending(self) -> int:
        """Events published and not yet handled: how far the handlers lag the engine."""
        return self._pending

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def on(self, name: str, handler: Handler) -> None:
        if name not in EVENT_NAMES and name != "*":
            raise ValueError(f"unknown event {name!r}; expected one of {sorted(EVENT_NAMES)}")
        with self._lock:
            self._handlers[name].append(handler)

    def off(self, name: str, handler: Handler) -> None:
        with self._lock:
            if handler in self._handlers.get(name, []):
                self._handlers[name].remove(handler)

    def publish(self, name: str, data: Any = None) -> None:
        # nobody listening: do not wake the dispatcher thread (it would contend for the GIL
        # with the socket and the order manager on every order event)
        if not self._handlers.get(name) and not self._handlers.get("*"):
            return
        with self._idle:
            self._pending += 1
            lagging = self._pending >= self._warn_at
            if lagging:
                self._warn_at *= 2
        if lagging:
            log.warning(
                "event handlers are %d events behind (the slowest handler delays every event "
                "after it; events are queued, never dropped)",
                self._pending,
            )
        self._queue.put(Event(name, data))

    def wait_idle(self, timeout: float) -> bool:
        """Block until every published event has been handled (tests and shutdown use it).

        From a handler (`engine.stop()` in an `order` handler, say) it cannot wait for the
        dispatcher it runs on: it says at once whether only the event being handled is left.
        """
        if threading.current_thread() is self._thread:
            return self._pending <= 1
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            with self._lock:
                handlers = list(self._handlers.get(event.name, ())) + list(
                    self._handlers.get("*", ())
                )
            for handler in handlers:
                try:
                    handler(event)
                except Exception as exc:
                    log.exception("event handler for %r failed", event.name)
                    if event.name != "exception":
                        self.publish("exception", exc)
            with self._idle:
                self._pending -= 1
                if self._pending == 0:
                    self._warn_at = _BACKLOG_WARN  # caught up: a new backlog is news again
                    self._idle.notify_all()
