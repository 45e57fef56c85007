"""A trading call drains the intake on the caller's thread when the order manager is idle: the
intent is committed and the frame written before the call returns. When the order manager is
busy, the call returns at once and the order manager sends the command itself, in order."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from actors.order_manager import OrderManagerActor
from engine import Engine
from engine.simulator import Simulator


def _order(i: int) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(f"{21000 + i}.0"),
    }


def _rows(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT cl_ord_id, status FROM orders ORDER BY id").fetchall()


def _manager(engine: Engine) -> OrderManagerActor:
    assert engine._front is not None
    manager = engine._front._actor  # white box: the test plays the busy order manager
    assert isinstance(manager, OrderManagerActor)
    return manager


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "orders.db"


@pytest.fixture
def connected(make_engine: Callable[..., Engine]) -> Iterator[Engine]:
    engine = make_engine()
    engine.connect()
    yield engine


def test_an_idle_order_manager_commits_the_intent_before_the_call_returns(
    connected: Engine, database: Path, sim: Simulator
) -> None:
    future = connected.submit_spot_order(**_order(0), cl_ord_id="idle-0")
    rows = _rows(database)  # read at once: no wait, the call itself committed it
    assert [cl for cl, _ in rows] == ["idle-0"]
    assert future.result(timeout=5).result.cl_ord_id == "idle-0"
    truth = sim.control.wait_for(lambda s: len(s["orders"]) == 1)
    assert truth["orders"][0]["cl_ord_id"] == "idle-0"


def test_a_busy_order_manager_takes_the_commands_itself_in_order(
    connected: Engine, database: Path, sim: Simulator
) -> None:
    manager = _manager(connected)
    held, release = threading.Event(), threading.Event()

    def busy() -> None:
        with manager._busy:  # what the actor's thread holds while it handles a message
            held.set()
            release.wait(10)

    holder = threading.Thread(target=busy)
    holder.start()
    assert held.wait(5)
    try:
        futures = [
            connected.submit_spot_order(**_order(i), cl_ord_id=f"busy-{i}") for i in range(10)
        ]
        assert _rows(database) == [], "nothing written on the callers' thread while busy"
        assert not any(f.done() for f in futures)
    finally:
        release.set()
        holder.join(5)
    placed = [f.result(timeout=5).result for f in futures]
    assert [p.cl_ord_id for p in placed] == [f"busy-{i}" for i in range(10)]
    assert [cl for cl, _ in _rows(database)] == [f"busy-{i}" for i in range(10)]
    truth = sim.control.wait_for(lambda s: len(s["orders"]) == 10)
    by_cl = {o["cl_ord_id"]: o for o in truth["orders"]}
    assert [by_cl[f"busy-{i}"]["limit_price"] for i in range(10)] == [
        Decimal(f"{21000 + i}.0") for i in range(10)
    ]


@pytest.mark.parametrize("on_caller", [True, False])
def test_the_option_decides_whether_a_caller_ever_writes(
    make_engine: Callable[..., Engine], on_caller: bool
) -> None:
    engine = make_engine(send_on_caller_thread=on_caller)
    engine.connect()
    assert engine._db is not None
    committers: list[str] = []

    def listener(_connection: Any) -> None:
        committers.append(threading.current_thread().name)

    event.listen(engine._db, "commit", listener)
    try:
        futures = [engine.submit_spot_order(**_order(i)) for i in range(5)]
        for future in futures:
            future.result(timeout=5)
    finally:
        event.remove(engine._db, "commit", listener)
    mine = threading.current_thread().name
    assert (mine in committers) is on_caller, committers
