"""An edit whose answer is lost: its new order is still ours.

Kraken gives an edit's new order no key of ours (no `cl_ord_id`, no userref of ours), so
without the answer only the order's fields tie it to the replacement the engine recorded
before sending. Reconciliation and the orphans' sweep tie them; recorded as another client's
order instead, the order had two rows, and the late answer, naming the same id, broke the
database's uniqueness and stopped the order manager. The order manager's object is driven on
the test's thread, with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import DiscardingWire, apply_fact, driven_order_manager, submit

from actors import order_manager
from actors.messages import (
    ExecutionsReceived,
    PlaceOrders,
    RequestAnswered,
    RequestUnanswered,
    Tick,
    VenueSnapshot,
)
from actors.order_manager import OrderManagerActor
from engine.domain.lifecycle import OrderStatus
from engine.domain.reports import OrderStatusReport
from engine.kraken.envelope import parse_response
from engine.kraken.executions import parse_executions
from persistence.history import History

ORIGINAL, REPLACEMENT = "OORIGN-ABCDE-FGHIJK", "OREPLC-ABCDE-FGHIJK"
TIMES = {"time_in": "2024-05-01T12:00:00.000000Z", "time_out": "2024-05-01T12:00:00.000100Z"}


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, str]]:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with driven_order_manager(url, DiscardingWire) as om:
        yield om, url


def _edited(om: OrderManagerActor, **extra: Any) -> None:
    """An order placed and answered, then an edit of its price to 990 sent."""
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "cl_ord_id": "a",
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    submit(om, PlaceOrders("add_order", params, Future()))
    result = {"order_id": ORIGINAL, "cl_ord_id": "a"}
    placed = parse_response({"method": "add_order", "req_id": 1, "success": True,
                             "result": result, **TIMES})  # fmt: skip
    apply_fact(om, RequestAnswered((1,), "add_order", 1, placed))
    edit = {"order_id": ORIGINAL, "symbol": "BTC/USD", "limit_price": Decimal("990"), **extra}
    submit(om, PlaceOrders("edit_order", edit, Future()))


def _edited_answer_lost(om: OrderManagerActor, timed_out: bool = True) -> None:
    """An order placed and answered, then edited to 990; the edit's answer never comes (the
    request timed out), or has not come yet (the replacement's row still says
    `pending_submit`: the book alone knows it was sent)."""
    _edited(om)
    if timed_out:
        apply_fact(om, RequestUnanswered((2,), "edit_order", 2, "no answer within 10 s"))


def _late_answer(om: OrderManagerActor) -> None:
    edited = parse_response({"method": "edit_order", "req_id": 2, "success": True,
                             "result": {"order_id": REPLACEMENT, "original_order_id": ORIGINAL},
                             **TIMES})  # fmt: skip
    apply_fact(om, RequestAnswered((2,), "edit_order", 2, edited))


def _assert_one_row_each(url: str) -> None:
    rows = {row.order_id: row for row in History(url).orders()}
    assert sorted(rows) == [ORIGINAL, REPLACEMENT], "one row per Kraken order, no other"
    assert rows[REPLACEMENT].id == 2 and rows[REPLACEMENT].origin == "engine"
    assert rows[REPLACEMENT].replaces_id == 1


def test_reconciliation_ties_the_new_order_to_the_replacement_and_the_late_answer_agrees(
    manager: tuple[OrderManagerActor, str],
) -> None:
    om, url = manager
    _edited_answer_lost(om)
    at = datetime.now(UTC)
    reports = (
        OrderStatusReport(order_id=ORIGINAL, order_status="canceled", cl_ord_id="a",
                          symbol="BTC/USD", side="buy", order_type="limit",
                          order_qty=Decimal("0.01"), limit_price=Decimal("1000"),
                          source="reconciliation"),
        OrderStatusReport(order_id=REPLACEMENT, order_status="new", symbol="BTC/USD",
                          side="buy", order_type="limit", order_qty=Decimal("0.01"),
                          limit_price=Decimal("990"), source="reconciliation"),
    )  # fmt: skip
    om.on_receive(VenueSnapshot("reconnect", reports, (), at))

    replacement = om._book.get_by_pk(2)
    assert replacement is not None and replacement.order_id == REPLACEMENT
    assert replacement.status is OrderStatus.NEW
    _late_answer(om)  # names the id the replacement already has: nothing breaks
    _assert_one_row_each(url)


@pytest.mark.parametrize("timed_out", [True, False], ids=["timed out", "answer late"])
def test_the_orphans_sweep_ties_them_when_no_reconciliation_came(
    manager: tuple[OrderManagerActor, str], monkeypatch: pytest.MonkeyPatch, timed_out: bool
) -> None:
    monkeypatch.setattr(order_manager, "_ORPHAN_TTL_S", 0.0)  # swept at the next tick
    om, url = manager
    _edited_answer_lost(om, timed_out)
    report = {"order_id": REPLACEMENT, "exec_id": "TEXEC-9", "exec_type": "new",
              "order_status": "new", "symbol": "BTC/USD", "side": "buy",
              "order_type": "limit", "order_qty": Decimal("0.01"), "limit_price": Decimal("990"),
              "timestamp": "2024-05-01T12:00:01.000000Z"}  # fmt: skip
    frame = {"channel": "executions", "type": "update", "data": [report], "sequence": 5}
    apply_fact(om, ExecutionsReceived(parse_executions(frame), 1))
    assert REPLACEMENT in om._orphans, "waits for the edit's answer first"
    om.on_receive(Tick())

    replacement = om._book.get_by_pk(2)
    assert replacement is not None and replacement.order_id == REPLACEMENT
    assert replacement.status is OrderStatus.NEW and not om._orphans
    _late_answer(om)
    _assert_one_row_each(url)


def test_a_late_answer_naming_an_id_another_row_holds_leaves_both_rows_as_they_are(
    manager: tuple[OrderManagerActor, str],
) -> None:
    om, url = manager
    _edited_answer_lost(om)
    # a new order reconciliation cannot tie to the replacement (not its price): recorded as
    # another client's, under the id the late answer will name
    stranger = OrderStatusReport(order_id=REPLACEMENT, order_status="new", symbol="BTC/USD",
                                 side="buy", order_type="limit", order_qty=Decimal("0.01"),
                                 limit_price=Decimal("980"), source="reconciliation")  # fmt: skip
    om.on_receive(VenueSnapshot("reconnect", (stranger,), (), datetime.now(UTC)))
    _late_answer(om)  # before the guard: a UNIQUE violation that stopped the order manager

    rows = {row.id: row for row in History(url).orders()}
    assert rows[3].order_id == REPLACEMENT and rows[3].origin == "external"
    assert rows[2].order_id is None, "the id stays with the row that had it first"
    timeline = History(url).timeline(2)
    assert timeline is not None and "ack:late" in [event.kind for event in timeline.events]


def test_an_edit_given_a_userref_is_tied_by_it_at_once(
    manager: tuple[OrderManagerActor, str],
) -> None:
    # with a userref of the caller's on the edit, Kraken's reports for the new order name it:
    # the replacement is found by it, no orphan and no field match needed
    om, _ = manager
    _edited(om, order_userref=77)
    report = {"order_id": REPLACEMENT, "exec_id": "TEXEC-9", "exec_type": "pending_new",
              "order_status": "pending_new", "symbol": "BTC/USD", "side": "buy",
              "order_type": "limit", "order_qty": Decimal("0.01"), "limit_price": Decimal("990"),
              "order_userref": 77, "timestamp": "2024-05-01T12:00:01.000000Z"}  # fmt: skip
    frame = {"channel": "executions", "type": "update", "data": [report], "sequence": 5}
    apply_fact(om, ExecutionsReceived(parse_executions(frame), 1))

    assert not om._orphans
    replacement = om._book.get_by_pk(2)
    assert replacement is not None and replacement.order_userref == 77
    assert replacement.status is OrderStatus.PENDING_NEW
