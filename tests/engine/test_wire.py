"""The connection's hot path runs off its own thread: the order manager transmits, the socket's
reader settles answers. When the actor holds its lock (connecting, handling a tick), requests
and answers wait in its backlogs, in order, and nothing is lost or sent twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from actors.connection import ConnectionActor
from engine import Engine
from engine.simulator import Simulator


@pytest.fixture
def connected(make_engine: Callable[..., Engine]) -> tuple[Engine, ConnectionActor]:
    engine = make_engine()
    engine.connect()
    assert engine._wire is not None
    actor = engine._wire._actor  # white box: the test plays the busy actor
    assert isinstance(actor, ConnectionActor)
    return engine, actor


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for another thread's progress, bounded (no fixed sleep stands in for an event)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        tick.wait(0.001)


def _order(i: int) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(f"{20000 + i}.0"),
    }


def test_requests_that_meet_a_busy_actor_leave_in_the_order_told(
    connected: tuple[Engine, ConnectionActor], sim: Simulator
) -> None:
    engine, actor = connected
    with actor._lock:
        futures = [engine.submit_spot_order(**_order(i)) for i in range(20)]
        _until(lambda: len(actor._send_backlog) == 20)
        assert sim.control.state()["orders"] == [], "nothing left while the actor was busy"
    placed = [f.result(timeout=5).result for f in futures]
    truth = sim.control.wait_for(lambda s: len(s["orders"]) == 20)
    by_id = {o["order_id"]: o for o in truth["orders"]}
    assert [by_id[p.order_id]["limit_price"] for p in placed] == [
        Decimal(f"{20000 + i}.0") for i in range(20)
    ]
    assert len({p.order_id for p in placed}) == 20


def test_an_answer_read_while_the_actor_is_busy_is_settled_once_it_is_free(
    connected: tuple[Engine, ConnectionActor],
) -> None:
    engine, actor = connected
    with actor._lock:
        future = engine.submit_spot_order(**_order(0))
        _until(lambda: len(actor._send_backlog) == 1)
        actor._drain_sends()  # transmit it from here, still holding the lock
        _until(lambda: len(actor._answer_backlog) == 1)  # the reader could not settle it
        assert not future.done()
    placed = future.result(timeout=5).result
    assert placed.order_id
    engine.wait_for_events()
    assert engine.get_order(placed.order_id) is not None
