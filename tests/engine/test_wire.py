"""The connection's hot path runs off its own thread: the order manager transmits, the socket's
reader settles answers. When the actor holds its lock (connecting, handling a tick), requests
and answers wait in its backlogs, in order, and nothing is lost or sent twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

import pytest

from actors.connection import ConnectionActor
from actors.messages import FrameReceived
from engine import Engine
from engine.kraken.codec import encode
from engine.simulator import Simulator


@pytest.fixture
def connected(make_engine: Callable[..., Engine]) -> tuple[Engine, ConnectionActor]:
    engine = make_engine()
    engine.connect()
    assert engine._wire is not None
    actor = engine._wire._actor  # white box: the test plays the busy actor
    assert isinstance(actor, ConnectionActor)
    return engine, actor


def _order(i: int) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(f"{20000 + i}.0"),
    }


def test_requests_that_meet_a_busy_actor_leave_in_the_order_told(
    connected: tuple[Engine, ConnectionActor], until: Callable[..., None], sim: Simulator
) -> None:
    engine, actor = connected
    with actor._lock:
        futures = [engine.submit_spot_order(**_order(i)) for i in range(20)]
        until(lambda: len(actor._send_backlog) == 20)
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
    until: Callable[..., None],
) -> None:
    engine, actor = connected
    with actor._lock:
        future = engine.submit_spot_order(**_order(0))
        until(lambda: len(actor._send_backlog) == 1)
        actor._drain_sends()  # transmit it from here, still holding the lock
        until(lambda: len(actor._answer_backlog) == 1)  # the reader could not settle it
        assert not future.done()
    placed = future.result(timeout=5).result
    assert placed.order_id
    engine.wait_for_events()
    assert engine.get_order(placed.order_id) is not None


def test_pushes_are_handled_on_the_reader_thread_while_the_actor_is_free(
    connected: tuple[Engine, ConnectionActor],
    until: Callable[..., None],
) -> None:
    engine, actor = connected
    told = actor._frames_told
    for i in range(10):  # one at a time, so that the order manager is not sending meanwhile
        placed = engine.submit_spot_order(**_order(i)).result(timeout=5).result
        until(lambda p=placed: _status(engine, p.order_id) == "new")
    # 20 executions frames were read (pending_new and new of each order); a heartbeat or a
    # tick may meet the actor holding its lock, but most frames skip the mailbox
    assert actor._frames_told - told < 10


def _executions_seen(engine: Engine) -> list[tuple[str, str | None]]:
    seen: list[tuple[str, str | None]] = []
    engine.on("execution", lambda event: seen.append((event.data.order_id, event.data.exec_type)))
    return seen


def _sent_while_busy(
    engine: Engine, actor: ConnectionActor, until: Callable[..., None]
) -> list[Future[Any]]:
    """Five orders transmitted from here while the test holds the actor's lock."""
    futures = [engine.submit_spot_order(**_order(i)) for i in range(5)]
    until(lambda: len(actor._send_backlog) == 5)
    actor._drain_sends()
    return futures


def _each_reported_in_order(seen: list[tuple[str, str | None]], futures: list[Future[Any]]) -> None:
    for future in futures:
        order_id = future.result(timeout=5).result.order_id
        assert [kind for oid, kind in seen if oid == order_id] == ["pending_new", "new"]


def test_executions_read_while_the_actor_is_busy_reach_the_order_manager_at_once(
    connected: tuple[Engine, ConnectionActor],
    until: Callable[..., None],
) -> None:
    engine, actor = connected
    seen = _executions_seen(engine)
    told = actor._frames_told
    with actor._lock:
        futures = _sent_while_busy(engine, actor, until)
        # pending_new and new of each order, applied and published while the actor still is
        until(lambda: len(seen) == 10)
        assert actor._frames_told == told, "none waited in the actor's mailbox"
        assert not any(f.done() for f in futures), "answers are settled under the lock"
    _each_reported_in_order(seen, futures)


def test_executions_read_behind_a_frame_in_the_mailbox_follow_it_there_in_order(
    connected: tuple[Engine, ConnectionActor],
    until: Callable[..., None],
) -> None:
    engine, actor = connected
    seen = _executions_seen(engine)
    statuses: list[str] = []
    engine.on("status", lambda event: statuses.append(event.data.system))
    told = actor._frames_told
    reader = actor._reader
    assert reader is not None
    with actor._lock:
        # a status push the reader could not handle while the actor was busy: it waits in the
        # mailbox, and the executions read after it must not overtake it
        status = {"channel": "status", "type": "update",
                  "data": [{"api_version": "v2", "connection_id": 1, "system": "online",
                            "version": "2.0.10"}]}  # fmt: skip
        pushed = threading.Thread(  # the lock is the test's (reentrant): read elsewhere
            target=reader.tell, args=(FrameReceived(reader.session_no, encode(status)),)
        )
        pushed.start()
        pushed.join(timeout=5)
        assert actor._frames_told - told == 1
        futures = _sent_while_busy(engine, actor, until)
        until(lambda: actor._frames_told - told >= 11)  # a heartbeat may come too
        assert seen == [] and statuses == []
    placed = [f.result(timeout=5).result for f in futures]
    until(lambda: all(_status(engine, p.order_id) == "new" for p in placed))
    engine.wait_for_events()
    assert actor._frames_handled == actor._frames_told
    assert statuses == ["online"]
    _each_reported_in_order(seen, futures)


def _status(engine: Engine, order_id: str) -> str | None:
    order = engine.get_order(order_id)
    return order.status.value if order is not None else None
