"""After an answer, the order manager lets the answered caller go first: an order it submits
within the head start is committed and sent before the answer's facts are applied, and facts
that follow no answer (pushes, timeouts) are applied at once.

The actor's object is driven on the test's thread, with a real SQLite file; the intake
stands in for a caller who submits while the manager waits on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import driven_order_manager

from actors.messages import (
    DrainIntake,
    ExecutionsReceived,
    PlaceOrders,
    RequestAnswered,
    RequestUnanswered,
    SendRequest,
)
from actors.order_manager import DrainFacts, Intake, OrderManagerActor
from engine.domain.order import OrderStatus
from engine.kraken.envelope import parse_response
from engine.kraken.executions import parse_executions


class _Intake(Intake):
    """An intake whose caller submits `arriving` while the manager waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.arriving: PlaceOrders | None = None
        self.waits = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block:
            self.waits += 1
            if self.arriving is not None:
                self.put(self.arriving)
                self.arriving = None
        return super().get(block, timeout)


class _Wire:
    """Records what was sent and the first order's status at that moment."""

    def __init__(self, manager: list[OrderManagerActor]) -> None:
        self.sent: list[tuple[str, OrderStatus | None]] = []
        self.sent_at_facts_left: list[int] = []  # facts still queued when each one left
        self._manager = manager

    def tell(self, message: Any) -> None:
        assert isinstance(message, SendRequest)
        first = self._manager[0]._book.get_by_pk(1)
        self.sent.append((message.params["cl_ord_id"], first.status if first else None))
        self.sent_at_facts_left.append(self._manager[0].inlet.queue.qsize())


@contextlib.contextmanager
def _manager(
    tmp_path: Path, intake: _Intake, **settings: Any
) -> Iterator[tuple[OrderManagerActor, _Wire]]:
    """An order manager on a real SQLite file, driven on the test's thread."""
    holder: list[OrderManagerActor] = []
    wire = _Wire(holder)
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with driven_order_manager(url, lambda: wire, intake, **settings) as om:
        holder.append(om)
        if isinstance(intake, _ArrivesDuringFacts):
            intake.manager = om
        yield om, wire


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, _Intake, _Wire]]:
    intake = _Intake()
    with _manager(tmp_path, intake) as (om, wire):
        yield om, intake, wire


def _place(cl_ord_id: str) -> PlaceOrders:
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD",
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000"),
              "cl_ord_id": cl_ord_id}  # fmt: skip
    return PlaceOrders("add_order", params, Future())


def _answer(pk: int) -> RequestAnswered:
    response = parse_response({"method": "add_order", "req_id": 7, "success": True,
                               "result": {"order_id": "OABCDE-FGHIJ-KLMNOP", "cl_ord_id": "a"},
                               "time_in": "2024-05-01T12:00:00.000000Z",
                               "time_out": "2024-05-01T12:00:00.000100Z"})  # fmt: skip
    return RequestAnswered((pk,), "add_order", 7, response)


def _sent_first_order(om: OrderManagerActor, intake: _Intake) -> None:
    intake.put(_place("a"))
    om.on_receive(DrainIntake())
    first = om._book.get_by_pk(1)
    assert first is not None and first.status is OrderStatus.SUBMITTED


def _drain_after(
    om: OrderManagerActor, intake: _Intake, *facts: Any, arriving: PlaceOrders | None = None
) -> None:
    """Order a sent, then these facts queued while (maybe) a caller submits `arriving`."""
    _sent_first_order(om, intake)
    for fact in facts:
        om.inlet.tell(fact)
    intake.arriving = arriving
    om.on_receive(DrainFacts())


def test_an_order_submitted_after_an_answer_goes_out_before_the_answer_is_applied(
    manager: tuple[OrderManagerActor, _Intake, _Wire],
) -> None:
    om, intake, wire = manager
    _drain_after(om, intake, _answer(1), arriving=_place("b"))
    # b left while a still waited for its answer to be applied; then the answer was
    assert wire.sent == [("a", OrderStatus.SUBMITTED), ("b", OrderStatus.SUBMITTED)]
    first = om._book.get_by_pk(1)
    assert first is not None and first.status is OrderStatus.PENDING_NEW
    assert first.order_id == "OABCDE-FGHIJ-KLMNOP"


def test_facts_are_applied_after_the_head_start_when_no_order_comes(
    manager: tuple[OrderManagerActor, _Intake, _Wire],
) -> None:
    om, intake, wire = manager
    _drain_after(om, intake, _answer(1))
    assert intake.waits == 1
    first = om._book.get_by_pk(1)
    assert first is not None and first.status is OrderStatus.PENDING_NEW
    assert [cl for cl, _ in wire.sent] == ["a"]


def test_facts_without_an_answer_are_applied_without_waiting(
    manager: tuple[OrderManagerActor, _Intake, _Wire],
) -> None:
    om, intake, wire = manager
    unanswered = RequestUnanswered((1,), "add_order", 7, "no answer within 10 s")
    _drain_after(om, intake, unanswered, arriving=_place("b"))
    assert intake.waits == 0
    assert [cl for cl, _ in wire.sent] == ["a"]


def _trade(order_id: str) -> ExecutionsReceived:
    report = {"order_id": order_id, "cl_ord_id": "a", "exec_id": "TEXEC-1", "exec_type": "trade",
              "order_status": "partially_filled", "symbol": "BTC/USD", "side": "buy",
              "order_type": "limit", "order_qty": Decimal("0.01"), "limit_price": Decimal("1000"),
              "last_qty": Decimal("0.004"), "last_price": Decimal("1000"), "cost": Decimal("4"),
              "cum_qty": Decimal("0.004"), "cum_cost": Decimal("4"),
              "timestamp": "2024-05-01T12:00:00.000200Z", "liquidity_ind": "m"}  # fmt: skip
    frame = {"channel": "executions", "type": "update", "data": [report], "sequence": 3}
    return ExecutionsReceived(parse_executions(frame), 1)


def test_an_answer_that_came_with_a_fill_is_applied_without_waiting(
    manager: tuple[OrderManagerActor, _Intake, _Wire],
) -> None:
    om, intake, wire = manager
    _drain_after(om, intake, _answer(1), _trade("OABCDE-FGHIJ-KLMNOP"), arriving=_place("b"))
    assert intake.waits == 0, "a fill's events do not wait for the caller's next order"
    assert [cl for cl, _ in wire.sent] == ["a"]
    first = om._book.get_by_pk(1)
    assert first is not None and first.status is OrderStatus.PARTIALLY_FILLED
    assert first.cum_qty == Decimal("0.004")


def _trades(order_id: str, count: int) -> list[ExecutionsReceived]:
    """`count` fills of 0.000005 each, one trade report per frame, as Kraken sends them."""
    facts = []
    for n in range(1, count + 1):
        report = {"order_id": order_id, "cl_ord_id": "a", "exec_id": f"TEXEC-{n}",
                  "exec_type": "trade", "order_status": "partially_filled", "symbol": "BTC/USD",
                  "side": "buy", "order_type": "limit", "order_qty": Decimal("0.01"),
                  "limit_price": Decimal("1000"), "last_qty": Decimal("0.000005"),
                  "last_price": Decimal("1000"), "cost": Decimal("0.005"),
                  "cum_qty": Decimal("0.000005") * n, "cum_cost": Decimal("0.005") * n,
                  "timestamp": "2024-05-01T12:00:00.000200Z", "liquidity_ind": "m"}  # fmt: skip
        frame = {"channel": "executions", "type": "update", "data": [report], "sequence": 2 + n}
        facts.append(ExecutionsReceived(parse_executions(frame), 1))
    return facts


def _answered_first_order(om: OrderManagerActor, intake: _Intake) -> None:
    _sent_first_order(om, intake)
    om.inlet.tell(_answer(1))
    om.on_receive(DrainFacts())


def test_a_backlog_of_facts_is_applied_in_one_transaction_beyond_the_commands_batch(
    manager: tuple[OrderManagerActor, _Intake, _Wire],
) -> None:
    # under a flood of executions a commit costs the B-tree pages its transaction dirtied,
    # a few per fill whatever the transaction's size: the backlog goes in few, large ones
    om, intake, _wire = manager
    _answered_first_order(om, intake)
    before = om.stats()["commits"]
    for fact in _trades("OABCDE-FGHIJ-KLMNOP", 600):  # more than the 512 orders of a drain
        om.inlet.tell(fact)
    om.on_receive(DrainFacts())
    assert om.stats()["commits"] - before == 1
    first = om._book.get_by_pk(1)
    assert first is not None and first.cum_qty == Decimal("0.003")


class _ArrivesDuringFacts(_Intake):
    """A caller submits `arriving` once the manager has taken `after` facts of its backlog."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.manager: OrderManagerActor | None = None
        self._after, self._total, self.left_at_arrival = after, 0, -1

    def qsize(self) -> int:
        facts = self.manager.inlet.queue.qsize() if self.manager else 0
        if self.arriving is not None and self._total - facts >= self._after:
            self.put(self.arriving)
            self.arriving, self.left_at_arrival = None, facts
        return super().qsize()

    def start(self, total: int) -> None:
        self._total = total


def test_an_order_that_arrives_during_a_long_facts_transaction_ends_it_and_goes_out_first(
    tmp_path: Path,
) -> None:
    intake = _ArrivesDuringFacts(after=600)
    with _manager(tmp_path, intake) as (om, wire):
        _answered_first_order(om, intake)
        facts = _trades("OABCDE-FGHIJ-KLMNOP", 1500)
        for fact in facts:
            om.inlet.tell(fact)
        intake.start(len(facts))
        intake.arriving = _place("b")
        om.on_receive(DrainFacts())
        assert [cl for cl, _ in wire.sent] == ["a", "b"]
        sent_b = wire.sent_at_facts_left[-1]
        # b went out while much of the backlog still waited, not after all of it: within
        # one look (every 32 facts) of its arrival
        assert 0 < sent_b <= intake.left_at_arrival
        assert sent_b >= 1500 - 600 - 32
        first = om._book.get_by_pk(1)
        assert first is not None and first.cum_qty == Decimal("0.0075")  # the rest applied too


class _Stream(_Intake):
    """A caller who always has one more order waiting, up to `orders` of them."""

    def __init__(self, orders: int) -> None:
        super().__init__()
        self._left = orders

    def qsize(self) -> int:
        if self._left and not super().qsize():
            self._left -= 1
            self.put(_place(f"s{self._left}"))
        return super().qsize()


def test_facts_keep_up_with_a_stream_of_orders(tmp_path: Path) -> None:
    # an order that waits ends a facts transaction only past the commands' batch (512), and
    # the round goes on after it: were every waiting order to cut the facts short, a steady
    # stream of orders (three or four facts each) would leave the facts ever further behind
    intake = _Stream(orders=0)
    with _manager(tmp_path, intake) as (om, wire):
        _answered_first_order(om, intake)
        for fact in _trades("OABCDE-FGHIJ-KLMNOP", 1500):
            om.inlet.tell(fact)
        sizes: list[int] = []
        apply_facts = om._apply_facts

        def counted(facts: Any) -> int:
            applied = apply_facts(facts)
            sizes.append(applied)
            return applied

        om._apply_facts = counted  # type: ignore[method-assign]
        intake._left = 100
        om.on_receive(DrainFacts())
        assert sum(sizes) == 1500 and om.inlet.queue.qsize() == 0
        assert all(size >= 512 for size in sizes[:-1]), sizes
        assert len(wire.sent) > 2, "the orders went out between the facts' transactions"


def test_no_head_start_when_it_is_set_to_zero(tmp_path: Path) -> None:
    intake = _Intake()
    with _manager(tmp_path, intake, caller_headstart_s=0) as (om, wire):
        _drain_after(om, intake, _answer(1), arriving=_place("b"))
        assert intake.waits == 0, "the answer is applied at once"
        assert [cl for cl, _ in wire.sent] == ["a"]
        first = om._book.get_by_pk(1)
        assert first is not None and first.status is OrderStatus.PENDING_NEW
