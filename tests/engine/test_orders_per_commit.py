"""The intake's orders are recorded in groups of at most `max_orders_per_commit` per
transaction: a burst is one commit by default, and one commit per order when the setting is 1,
each order still committed before it is handed to the connection.

The actor's object is driven on the test's thread, with a real SQLite file."""

from __future__ import annotations

from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import driven_order_manager

from actors.messages import DrainIntake, PlaceOrders, SendRequest
from actors.order_manager import OrderManagerActor


class _Wire:
    """The connection: records each request with the order manager's commit count then."""

    def __init__(self, manager: list[OrderManagerActor]) -> None:
        self.sent: list[tuple[str, int]] = []
        self._manager = manager

    def tell(self, message: Any) -> None:
        assert isinstance(message, SendRequest)
        self.sent.append((message.params["cl_ord_id"], self._manager[0].stats()["commits"]))


def _place(cl_ord_id: str) -> PlaceOrders:
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD",
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000"),
              "cl_ord_id": cl_ord_id}  # fmt: skip
    return PlaceOrders("add_order", params, Future())


def _burst(tmp_path: Path, count: int, **settings: Any) -> tuple[list[tuple[str, int]], int]:
    """`count` orders queued at once, drained until the intake is empty: what was sent (with
    the commits made by then) and how many drains it took."""
    holder: list[OrderManagerActor] = []
    wire = _Wire(holder)
    with driven_order_manager(
        f"sqlite:///{tmp_path / 'orders.db'}", lambda: wire, **settings
    ) as om:
        holder.append(om)
        before = om.stats()["commits"]
        for n in range(count):
            om._intake.put(_place(f"o{n}"))
        drains = 0
        while om._intake.qsize():
            om.on_receive(DrainIntake())
            drains += 1
        return [(cl_ord_id, commits - before) for cl_ord_id, commits in wire.sent], drains


def test_a_burst_is_recorded_in_one_transaction_by_default(tmp_path: Path) -> None:
    sent, drains = _burst(tmp_path, 5)
    assert sent == [(f"o{n}", 1) for n in range(5)]
    assert drains == 1


def test_one_order_per_commit_commits_each_before_sending_it(tmp_path: Path) -> None:
    sent, drains = _burst(tmp_path, 5, max_orders_per_commit=1)
    assert sent == [(f"o{n}", n + 1) for n in range(5)]
    assert drains == 5


@pytest.mark.parametrize("size", [2, 3])
def test_a_burst_is_split_into_groups_of_the_given_size(tmp_path: Path, size: int) -> None:
    sent, _ = _burst(tmp_path, 7, max_orders_per_commit=size)
    assert [commits for _, commits in sent] == [n // size + 1 for n in range(7)]


def test_orders_held_until_reconciliation_are_released_in_groups_of_the_given_size(
    tmp_path: Path,
) -> None:
    holder: list[OrderManagerActor] = []
    wire = _Wire(holder)
    with driven_order_manager(
        f"sqlite:///{tmp_path / 'orders.db'}", lambda: wire, max_orders_per_commit=2
    ) as om:
        holder.append(om)
        # as after a drop: order entry waits for reconciliation
        om._connected_once, om._gate_closed = True, True
        for n in range(5):
            om._intake.put(_place(f"o{n}"))
        while om._intake.qsize():
            om.on_receive(DrainIntake())
        assert wire.sent == [] and len(om._deferred) == 5
        before = om.stats()["commits"]
        om._open_gate()
        sent = [(cl_ord_id, commits - before) for cl_ord_id, commits in wire.sent]
    assert sent == [("o0", 1), ("o1", 1), ("o2", 2), ("o3", 2), ("o4", 3)]
