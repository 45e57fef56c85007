"""The rate limiter prices requests on the order manager's thread while it is free, and when it
is busy they wait in its backlog, in order, and nothing is lost or sent twice; a request still
in the backlog when the limiter stops ends `not_sent`. Simulator and engine on the Pro tier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config

from actors.rate_limiter import RateLimiterActor
from engine import Engine
from engine.errors import EngineStopped
from engine.simulator import Simulator
from persistence.history import History


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Engine, RateLimiterActor, Simulator]]:
    with Simulator(tier="pro") as sim:
        engine = Engine(engine_config(sim, tmp_path, "pro")).start()
        try:
            engine.connect()
            assert engine._limiter_gate is not None
            yield (
                engine,
                engine._limiter_gate._actor,
                sim,
            )  # white box: the test plays the busy actor
        finally:
            engine.stop()


def _order(i: int) -> dict[str, Any]:
    return {"order_type": "limit", "side": "buy", "symbol": "BTC/USD",
            "order_qty": Decimal("0.01"), "limit_price": Decimal(f"{20000 + i}.0")}  # fmt: skip


def test_a_request_is_priced_on_the_order_managers_thread_while_the_limiter_is_free(
    limited: tuple[Engine, RateLimiterActor, Simulator],
) -> None:
    engine, actor, _ = limited
    threads: list[str] = []
    offer = actor._offer

    def recording(request: Any) -> None:
        threads.append(threading.current_thread().name)
        offer(request)

    actor._offer = recording  # type: ignore[method-assign]
    assert engine.submit_spot_order(**_order(0)).result(timeout=5).success
    assert len(threads) == 1 and threads[0].startswith("OrderManagerActor"), threads
    assert engine.rate_limit_stats()["sent"] == 1


def test_requests_that_meet_a_busy_limiter_leave_in_the_order_told(
    limited: tuple[Engine, RateLimiterActor, Simulator],
    until: Callable[..., None],
) -> None:
    engine, actor, sim = limited
    with actor._lock:
        futures = [engine.submit_spot_order(**_order(i)) for i in range(10)]
        until(lambda: len(actor._backlog) == 10)
        assert sim.control.state()["orders"] == [], "nothing left while the limiter was busy"
    placed = [f.result(timeout=5).result for f in futures]
    truth = sim.control.wait_for(lambda s: len(s["orders"]) == 10)
    assert [o["limit_price"] for o in truth["orders"]] == [
        Decimal(f"{20000 + i}.0") for i in range(10)
    ]
    assert len({p.order_id for p in placed}) == 10
    assert engine.rate_limit_stats()["sent"] == 10


def test_requests_in_the_backlog_when_the_limiter_stops_end_not_sent(
    limited: tuple[Engine, RateLimiterActor, Simulator],
    until: Callable[..., None],
) -> None:
    engine, actor, sim = limited
    with actor._lock:
        futures = [engine.submit_spot_order(**_order(i), cl_ord_id=f"left-{i}") for i in range(3)]
        until(lambda: len(actor._backlog) == 3)
        actor.on_stop()  # what pykka runs when the engine stops (the lock is re-entrant)
    for future in futures:
        assert isinstance(future.exception(timeout=5), EngineStopped)
    engine.stop()
    assert sim.control.state()["orders"] == []
    rows = {r.cl_ord_id: r.status for r in History(engine.config.database_url).orders()}
    assert rows == {f"left-{i}": "not_sent" for i in range(3)}
