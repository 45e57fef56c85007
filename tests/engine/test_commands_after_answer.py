"""Commands sent the moment an order's answer resolved its caller's future.

The future resolves on the reader's thread; the answer's facts reach the order manager's
book a little later (after the answered caller's next command, by design). A command that
depends on what the answer taught must not run on the book as it was before:
- an edit names its order by the id the answer brought. Without it, no intent is written for
  the replacement before it goes on the wire, and its reports, matching no order, end up
  recorded as another client's order;
- an order known only by its userref is refused while another order with that userref is in
  flight, and the answered one still looks in flight.

The order manager's object is driven on the test's thread, with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import driven_order_manager, submit

from actors.messages import ForwardRequest, PlaceOrders, RequestAnswered, SendRequest
from actors.order_manager import OrderManagerActor
from engine.domain.lifecycle import OrderStatus
from engine.errors import EngineFailed
from engine.kraken.envelope import parse_response
from persistence.history import History

ORDER_ID = "OEDITR-ABCDE-FGHIJK"


class _Wire:
    def __init__(self) -> None:
        self.sent: list[SendRequest] = []

    def tell(self, message: Any) -> None:
        self.sent.append(message)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, _Wire, str]]:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    wire = _Wire()
    with driven_order_manager(url, lambda: wire) as om:
        yield om, wire, url


def _placed_with_answer_queued(om: OrderManagerActor) -> None:
    """Order "a" placed; the reader queued its answer (and resolved the caller), the manager
    has not applied it."""
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "cl_ord_id": "a",
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    submit(om, PlaceOrders("add_order", params, Future()))
    response = parse_response({"method": "add_order", "req_id": 7, "success": True,
                               "result": {"order_id": ORDER_ID, "cl_ord_id": "a"},
                               "time_in": "2024-05-01T12:00:00.000000Z",
                               "time_out": "2024-05-01T12:00:00.000100Z"})  # fmt: skip
    om.inlet.tell(RequestAnswered((1,), "add_order", 7, response))


def test_the_replacement_is_recorded_before_the_edit_leaves_though_the_answer_waits(
    manager: tuple[OrderManagerActor, _Wire, str],
) -> None:
    om, wire, url = manager
    _placed_with_answer_queued(om)
    edit = {"order_id": ORDER_ID, "symbol": "BTC/USD", "limit_price": Decimal("990")}
    submit(om, PlaceOrders("edit_order", edit, Future()))

    [_, sent] = wire.sent
    assert sent.method == "edit_order" and sent.ref == (2,), "the replacement's row, written first"
    replacement = om._book.get_by_pk(2)
    assert replacement is not None and replacement.status is OrderStatus.SUBMITTED
    rows = {row.id: row for row in History(url).orders()}
    assert rows[2].replaces_id == 1 and rows[2].origin == "engine"
    assert rows[2].limit_price == Decimal("990") and rows[1].order_id == ORDER_ID


def test_an_order_reusing_an_answered_orders_userref_is_not_refused_though_the_answer_waits(
    manager: tuple[OrderManagerActor, _Wire, str],
) -> None:
    # an order known only by its userref is refused while another with that userref is in
    # flight (Kraken could not tell the two apart); once the first is answered, it is not
    om, wire, _ = manager
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "order_userref": 7,
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    submit(om, PlaceOrders("add_order", params, Future()))
    response = parse_response({"method": "add_order", "req_id": 7, "success": True,
                               "result": {"order_id": ORDER_ID, "order_userref": 7},
                               "time_in": "2024-05-01T12:00:00.000000Z",
                               "time_out": "2024-05-01T12:00:00.000100Z"})  # fmt: skip
    om.inlet.tell(RequestAnswered((1,), "add_order", 7, response))
    second: Future[Any] = Future()
    submit(om, PlaceOrders("add_order", {**params, "limit_price": Decimal("990")}, second))

    assert not second.done(), "not refused: the first order is known by its id now"
    assert [request.ref for request in wire.sent] == [(1,), (2,)]


def test_a_failure_applying_the_queued_answers_fails_the_cancel_that_waited_for_them(
    manager: tuple[OrderManagerActor, _Wire, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel was out of the intake, not yet written nor sent: its caller hears at once
    (fail-stop, actors.supervision), instead of waiting for an answer nobody will send."""
    om, wire, _ = manager
    _placed_with_answer_queued(om)

    def broken(*_args: Any) -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(OrderManagerActor, "_answered", broken)
    cancel = ForwardRequest("cancel_order", {"order_id": [ORDER_ID]}, Future())
    with pytest.raises(RuntimeError, match="injected fault"):
        submit(om, cancel)

    assert isinstance(cancel.future.exception(timeout=0), EngineFailed)
    assert [request.method for request in wire.sent] == ["add_order"]  # the cancel never left
    assert isinstance(om.failure, RuntimeError)
