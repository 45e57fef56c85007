"""What the order manager keeps per order ends with the order.

A process that trades for weeks must not grow with the orders it has placed: the book keeps
the live orders and a bounded recent history, and nothing else keyed by an order outlives it.
The order manager's object is driven on the test's thread, with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import apply_fact, driven_order_manager, submit

from actors.messages import ExecutionsReceived, ForwardRequest, PlaceOrders, RequestAnswered, Tick
from actors.order_manager import OrderManagerActor
from engine.kraken.envelope import parse_response
from engine.kraken.executions import parse_executions


class _Wire:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def tell(self, message: Any) -> None:
        self.sent.append(message.method)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, _Wire]]:
    wire = _Wire()
    with driven_order_manager(f"sqlite:///{tmp_path / 'orders.db'}", lambda: wire) as om:
        yield om, wire


def _placed_and_acknowledged(om: OrderManagerActor, n: int) -> str:
    cl_ord_id, order_id = f"c-{n}", f"OMEMBD-{n:05d}-ABCDEF"
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "cl_ord_id": cl_ord_id,
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    submit(om, PlaceOrders("add_order", params, Future()))
    pk = om._book.get_by_cl_ord_id(cl_ord_id).pk  # type: ignore[union-attr]
    response = parse_response({"method": "add_order", "req_id": n, "success": True,
                               "result": {"order_id": order_id, "cl_ord_id": cl_ord_id},
                               "time_in": "2024-05-01T12:00:00.000000Z",
                               "time_out": "2024-05-01T12:00:00.000100Z"})  # fmt: skip
    apply_fact(om, RequestAnswered((pk,), "add_order", n, response))
    return order_id


def _canceled(order_id: str, sequence: int) -> ExecutionsReceived:
    report = {"order_id": order_id, "exec_id": f"TCXL-{sequence}", "exec_type": "canceled",
              "order_status": "canceled", "reason": "User requested",
              "timestamp": "2024-05-01T12:00:01.000000Z"}  # fmt: skip
    frame = {"channel": "executions", "type": "update", "data": [report], "sequence": sequence}
    return ExecutionsReceived(parse_executions(frame), 1)


def test_an_amended_order_leaves_nothing_behind_once_it_ended(
    manager: tuple[OrderManagerActor, _Wire],
) -> None:
    om, wire = manager
    ended = _placed_and_acknowledged(om, 1)
    working = _placed_and_acknowledged(om, 2)
    for order_id in (ended, working):
        amend = {"order_id": order_id, "limit_price": Decimal("990")}
        submit(om, ForwardRequest("amend_order", amend, Future()))
    assert wire.sent == ["add_order", "add_order", "amend_order", "amend_order"]
    assert len(om._amended_at) == 2, "the amends' times price each order's next amend"
    apply_fact(om, _canceled(ended, 3))
    om.on_receive(Tick())
    working_pk = om._book.get_by_order_id(working).pk  # type: ignore[union-attr]
    assert list(om._amended_at) == [working_pk], "only the order that can still be amended"
    still = om._book.get_by_order_id(working)
    assert still is not None and still.is_live
