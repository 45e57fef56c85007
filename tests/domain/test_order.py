"""The Order snapshot's derived values and the OrderBook index."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.domain import lifecycle as lc
from engine.domain.lifecycle import OrderStatus as S
from engine.domain.order import DuplicateOrder, Order, OrderBook
from engine.domain.reports import FillReport, OrderStatusReport

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def order(
    cl_ord_id: str | None = "c-1",
    *,
    status: S = S.PENDING_SUBMIT,
    order_userref: int | None = None,
    order_id: str | None = None,
    pk: int | None = None,
    closed_at: datetime | None = None,
    cum_qty: str = "0",
) -> Order:
    return Order(
        cl_ord_id=cl_ord_id,
        order_userref=order_userref,
        order_id=order_id,
        account="main",
        symbol="BTC/USD",
        side="sell",
        order_type="limit",
        order_qty=Decimal("2"),
        limit_price=Decimal("100"),
        status=status,
        cum_qty=Decimal(cum_qty),
        created_at=T0,
        updated_at=T0,
        closed_at=closed_at,
        pk=pk,
    )


def test_remaining_qty_comes_from_quantities() -> None:
    assert order(cum_qty="0.5").remaining_qty == Decimal("1.5")
    assert order(cum_qty="3").remaining_qty == Decimal(0)
    assert order(status=S.CANCELED, cum_qty="0.5").remaining_qty == Decimal("1.5")


def test_live_and_terminal_partition_the_statuses() -> None:
    for status in S:
        o = order(status=status)
        assert o.is_live != o.is_terminal


def test_book_finds_an_order_by_every_key_it_gains() -> None:
    book = OrderBook()
    book.add(order(pk=7))
    assert book.get_by_cl_ord_id("c-1") is book.get_by_pk(7) is not None
    tracked = book.get_by_pk(7)
    assert tracked is not None
    acked = lc.apply(tracked, lc.Acknowledged("OABC-1"), now=T0)
    book.replace(acked)
    assert book.get_by_order_id("OABC-1") is acked
    assert book.get_by_cl_ord_id("c-1") is acked
    assert len(book) == 1


def test_book_finds_userref_only_orders_by_userref_and_symbol() -> None:
    book = OrderBook()
    book.add(order(None, order_userref=42, pk=1))
    assert book.get_by_userref(42, "BTC/USD") is not None
    assert book.get_by_userref(42, "ETH/USD") is None
    with pytest.raises(DuplicateOrder):
        book.add(order(None, order_userref=42, pk=2))
    book.replace(order(None, order_userref=42, pk=1, order_id="O-1", status=S.NEW))
    book.add(order(None, order_userref=42, pk=2))  # the first one is identifiable now
    assert book.get_by_pk(2) is book.get_by_userref(42, "BTC/USD")


def test_book_refuses_a_second_live_order_with_the_same_cl_ord_id() -> None:
    book = OrderBook()
    book.add(order())
    with pytest.raises(DuplicateOrder):
        book.add(order())
    book.replace(order(status=S.CANCELED))
    book.add(order(pk=9))  # reuse after close is Kraken's rule too
    assert book.get_by_cl_ord_id("c-1") is book.get_by_pk(9)


def test_an_acknowledged_holder_gives_up_its_cl_ord_id_and_keeps_its_reports() -> None:
    """It may have closed on Kraken with its report still on the way: the new order takes the
    cl_ord_id, and each one's reports still find it by order_id."""
    book = OrderBook()
    book.add(order(order_id="O-1", pk=1, status=S.NEW))
    book.add(order(pk=2))  # c-1 again, before O-1's canceled report
    assert book.get_by_cl_ord_id("c-1") is book.get_by_pk(2)
    old_report = OrderStatusReport(order_id="O-1", exec_type="canceled", cl_ord_id="c-1")
    assert book.find_for_report(old_report) is book.get_by_pk(1)
    new_report = OrderStatusReport(order_id="O-2", exec_type="pending_new", cl_ord_id="c-1")
    assert book.find_for_report(new_report) is book.get_by_pk(2)
    book.replace(order(order_id="O-1", pk=1, status=S.CANCELED))
    assert book.get_by_cl_ord_id("c-1") is book.get_by_pk(2)


def test_a_late_snapshot_of_a_closed_order_leaves_its_reused_cl_ord_id_alone() -> None:
    book = OrderBook()
    book.add(order(order_id="O-1", pk=1, status=S.CANCELED, closed_at=T0))
    book.add(order(pk=2, status=S.NEW))  # c-1 again, once O-1 closed
    book.replace(order(order_id="O-1", pk=1, status=S.CANCELED, cum_qty="1", closed_at=T0))
    assert book.get_by_cl_ord_id("c-1") is book.get_by_pk(2)
    assert book.get_by_order_id("O-1") is book.get_by_pk(1)
    assert book.get_by_pk(1) is not None and book.get_by_pk(1).cum_qty == Decimal(1)  # type: ignore[union-attr]
    book.replace(order(order_id="O-2", pk=2, status=S.NEW))  # a key appears: indexed
    assert book.get_by_order_id("O-2") is book.get_by_pk(2)


def test_replace_of_an_unknown_order_raises() -> None:
    with pytest.raises(KeyError):
        OrderBook().replace(order())


def test_live_lists_non_terminal_orders_in_arrival_order() -> None:
    book = OrderBook()
    for i, status in enumerate([S.NEW, S.FILLED, S.SUBMITTED, S.REJECTED]):
        book.add(order(f"c-{i}", status=status))
    assert [o.cl_ord_id for o in book.live()] == ["c-0", "c-2"]
    book.replace(order("c-0", status=S.FILLED))
    assert [o.cl_ord_id for o in book.live()] == ["c-2"]


def test_find_for_report_tries_order_id_then_cl_ord_id_then_userref() -> None:
    book = OrderBook()
    book.add(order("c-1", order_id="O-1"))
    book.add(order("c-2"))  # in flight: Kraken's id not known yet
    book.add(order(None, order_userref=5, pk=3))
    by_id = FillReport(exec_id="T", order_id="O-1", last_qty=Decimal(1), last_price=Decimal(1))
    by_cl = OrderStatusReport(order_id="O-2", cl_ord_id="c-2")
    by_ref = OrderStatusReport(order_id="O-9", order_userref=5, symbol="BTC/USD")
    assert book.find_for_report(by_id) is book.get_by_order_id("O-1")
    assert book.find_for_report(by_cl) is book.get_by_cl_ord_id("c-2")
    assert book.find_for_report(by_ref) is book.get_by_pk(3)
    assert book.find_for_report(OrderStatusReport(order_id="O-unknown")) is None


def test_a_reused_cl_ord_id_does_not_match_the_order_that_had_it_before() -> None:
    book = OrderBook()
    book.add(order("c-1", order_id="O-1", status=S.FILLED))
    # Kraken allows c-1 again once O-1 closed: a report for O-7 is not about O-1
    assert book.find_for_report(OrderStatusReport(order_id="O-7", cl_ord_id="c-1")) is None


def test_terminal_orders_are_forgotten_after_the_cutoff_live_ones_never() -> None:
    book = OrderBook()
    book.add(order("old", status=S.FILLED, order_id="O-old", pk=1, closed_at=T0))
    book.add(order("new", status=S.CANCELED, pk=2, closed_at=T0 + timedelta(hours=2)))
    book.add(order("live", status=S.NEW, pk=3))
    assert book.forget_ended(T0 + timedelta(hours=1)) == 1
    assert book.get_by_cl_ord_id("old") is None
    assert book.get_by_order_id("O-old") is None
    assert book.get_by_pk(1) is None
    assert book.get_by_cl_ord_id("new") is not None
    assert book.forget_ended(T0 + timedelta(days=9)) == 1
    assert [o.cl_ord_id for o in book] == ["live"]


def test_beyond_the_cap_the_orders_that_ended_first_are_forgotten_live_ones_never() -> None:
    book = OrderBook()
    for n in range(5):
        book.add(order(f"c-{n}", status=S.NEW, order_id=f"O-{n}", pk=n + 1))
    # they end in another order than they were placed: the cap goes by the end
    for n in (3, 0, 4):
        book.replace(order(f"c-{n}", status=S.CANCELED, order_id=f"O-{n}", pk=n + 1,
                           closed_at=T0))  # fmt: skip
    assert book.forget_ended(keep_at_most=1) == 2
    assert book.get_by_order_id("O-3") is None and book.get_by_pk(1) is None
    assert [o.cl_ord_id for o in book] == ["c-1", "c-2", "c-4"]
    assert book.forget_ended(keep_at_most=1) == 0
    assert book.forget_ended(keep_at_most=0) == 1
    assert [o.cl_ord_id for o in book.live()] == ["c-1", "c-2"]


def test_an_ended_order_replaced_by_a_later_end_keeps_its_turn() -> None:
    book = OrderBook()
    book.add(order("a", status=S.NEW, order_id="O-a", pk=1))
    book.add(order("b", status=S.NEW, order_id="O-b", pk=2))
    book.replace(order("a", status=S.CANCELED, order_id="O-a", pk=1, closed_at=T0))
    book.replace(order("b", status=S.CANCELED, order_id="O-b", pk=2, closed_at=T0))
    # a correction of a's end (reconciliation found it filled) does not make it newer
    book.replace(order("a", status=S.FILLED, order_id="O-a", pk=1, closed_at=T0))
    assert book.forget_ended(keep_at_most=1) == 1
    assert book.get_by_pk(1) is None and book.get_by_pk(2) is not None


def test_evolve_is_replace() -> None:
    base = order(order_id="O-1", pk=3, cum_qty="0.5")
    every: dict[str, Any] = {
        "cl_ord_id": "c-2",
        "order_userref": 9,
        "order_id": "O-2",
        "account": "other",
        "symbol": "ETH/USD",
        "side": "buy",
        "order_type": "market",
        "order_qty": Decimal("3"),
        "limit_price": None,
        "status": S.FILLED,
        "cum_qty": Decimal("3"),
        "cum_cost": Decimal("300"),
        "avg_price": Decimal("100"),
        "fees": Decimal("0.3"),
        "reason": "r",
        "created_at": T0 + timedelta(1),
        "updated_at": T0 + timedelta(2),
        "sent_at": T0,
        "acknowledged_at": T0,
        "closed_at": T0,
        "amend_count": 2,
        "pk": 4,
        "fills_qty": Decimal("1"),
        "fills_cost": Decimal("100"),
    }
    assert set(every) == {f.name for f in dataclasses.fields(Order)}
    for name, value in every.items():
        evolved = base.evolve({name: value})
        assert evolved == dataclasses.replace(base, **{name: value})
        assert getattr(evolved, name) == value and type(evolved) is Order
    assert base.evolve(every) == dataclasses.replace(base, **every)
    same = base.evolve({})
    assert same == base and same is not base
    assert base == order(order_id="O-1", pk=3, cum_qty="0.5")  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        same.status = S.NEW  # type: ignore[misc]
    with pytest.raises(AttributeError):
        base.evolve({"no_such_field": 1})
    assert hash(same) == hash(base) and repr(same) == repr(base)
