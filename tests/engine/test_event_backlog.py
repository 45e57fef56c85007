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


def test_a_handler_that_waits_for_idle_does_not_wait_for_itself() -> None:
    bus = EventBus()
    answers: list[bool] = []
    returned = threading.Event()

    def waits(_event: Event) -> None:
        answers.append(bus.wait_idle(timeout=1_000))  # blocked, it would hold for 1,000 s
        returned.set()

    bus.on("order", waits)
    bus.start()
    try:
        bus.publish("order", 1)
        assert returned.wait(timeout=10)
        assert answers == [True]  # only the event being handled was left
    finally:
        bus.stop()


def test_engine_stop_from_an_order_handler_stops_the_engine(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    stopped = threading.Event()

    def stop_on_new(event: Event) -> None:
        if event.data.kind == "order_new":
            engine.stop(timeout=1_000)  # the wait for idle events would have held it
            stopped.set()

    engine.on("order", stop_on_new)
    engine.connect()
    engine.submit_spot_order(**limit_buy()).result(timeout=5)
    assert stopped.wait(timeout=10)
    assert engine.state == "stopped"
