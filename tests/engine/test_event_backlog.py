"""A handler slower than the order flow: its backlog is counted, logged, and never dropped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from engine_support import limit_buy

from actors.listeners import Event, EventBus
from engine import Engine


def test_a_blocked_handler_builds_a_backlog_that_is_logged_as_it_doubles_and_then_drained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    release = threading.Event()
    handled: list[int] = []

    def slow(event: Event) -> None:
        release.wait(timeout=10)
        handled.append(event.data)

    bus.on("order", slow)
    bus.start()
    try:
        with caplog.at_level(logging.WARNING, logger="kraken_router.events"):
            for n in range(2_500):
                bus.publish("order", n)
        assert bus.pending >= 2_499  # the first may be in the handler already
        behind = [r.getMessage() for r in caplog.records if "events behind" in r.getMessage()]
        assert [m.split()[3] for m in behind] == ["1000", "2000"]  # once, then at double
        release.set()
        assert bus.wait_idle(timeout=10)
        assert bus.pending == 0
        assert handled == list(range(2_500))  # every event, in order
    finally:
        release.set()
        bus.stop()


def test_engine_stats_report_the_handlers_backlog(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    release = threading.Event()
    entered = threading.Event()

    def blocked(_event: Event) -> None:
        entered.set()
        release.wait(timeout=10)

    engine.on("order", blocked)
    engine.connect()
    try:
        engine.submit_spot_order(**limit_buy()).result(timeout=5)
        assert entered.wait(timeout=5)
        assert engine.stats()["events_pending"] >= 1
    finally:
        release.set()
    assert engine.wait_for_events(timeout=10)
    assert engine.stats()["events_pending"] == 0
