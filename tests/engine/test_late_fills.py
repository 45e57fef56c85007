"""Fills that come late, or early, still reach their order.

A fill recorded before its order is known by Kraken's id is booked onto the order once the
order learns the id: the fee and quantity reach the order, and the fill row is linked to it,
also after a restart in between (fills are recorded once per exec_id, so without this the order
would never get them). A fill for an order that ended a while ago, no longer in the order
manager's memory, is booked onto it from the database, each of several in one reconciliation.
The order manager's object is driven on the test's thread, with a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from order_manager_support import DiscardingWire
from sqlalchemy import Engine

from actors import order_manager
from actors.clock import SystemClock
from actors.listeners import EventBus
from actors.messages import (
    DrainIntake,
    ExecutionsReceived,
    PlaceOrders,
    RequestAnswered,
    VenueSnapshot,
)
from actors.order_manager import DrainFacts, Intake, OrderManagerActor
from engine.domain.lifecycle import OrderStatus
from engine.domain.reports import FillReport, OrderStatusReport
from engine.kraken.envelope import parse_response
from engine.kraken.executions import parse_executions
from persistence import repository
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.history import History

ORDER_ID = "OUNLNK-ABCDE-FGHIJK"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    yield engine, url
    engine.dispose()


@pytest.fixture
def start() -> Iterator[Callable[[Engine], OrderManagerActor]]:
    started: list[OrderManagerActor] = []

    def factory(engine: Engine) -> OrderManagerActor:
        om = OrderManagerActor(account="acct", sessions=make_sessionmaker(engine),
                               clock=SystemClock(), events=EventBus(), intake=Intake(),
                               connection=DiscardingWire, run_id=None)  # fmt: skip
        om.on_start()
        started.append(om)
        return om

    yield factory
    for om in started:
        om.on_stop()


def _placed(om: OrderManagerActor, cl_ord_id: str = "a") -> None:
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "cl_ord_id": cl_ord_id,
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    om._intake.put(PlaceOrders("add_order", params, Future()))
    om.on_receive(DrainIntake())


def _rest_trade(n: int = 1) -> FillReport:
    return FillReport(exec_id=f"TUNLNK-{n}", order_id=ORDER_ID, last_qty=Decimal("0.004"),
                      last_price=Decimal("1000"), cost=Decimal("4"), fee=Decimal("0.0104"),
                      fee_asset="USD", symbol="BTC/USD", side="buy",
                      timestamp=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                      source="reconciliation")  # fmt: skip


def _reconciled(*fills: FillReport) -> VenueSnapshot:
    """A reconciliation that read these trades but not (yet) their order."""
    return VenueSnapshot("reconnect", (), fills, datetime.now(UTC))


def _ack(
    om: OrderManagerActor, pk: int = 1, order_id: str = ORDER_ID, cl_ord_id: str = "a"
) -> None:
    response = parse_response({"method": "add_order", "req_id": 7, "success": True,
                               "result": {"order_id": order_id, "cl_ord_id": cl_ord_id},
                               "time_in": "2024-05-01T12:00:00.000000Z",
                               "time_out": "2024-05-01T12:00:00.000100Z"})  # fmt: skip
    om.inlet.tell(RequestAnswered((pk,), "add_order", 7, response))
    om.on_receive(DrainFacts())


def _canceled(order_id: str, cl_ord_id: str, sequence: int) -> ExecutionsReceived:
    report = {"order_id": order_id, "cl_ord_id": cl_ord_id, "exec_id": f"TCXL-{sequence}",
              "exec_type": "canceled", "order_status": "canceled", "reason": "User requested",
              "timestamp": "2024-05-01T12:00:01.000000Z"}  # fmt: skip
    frame = {"channel": "executions", "type": "update", "data": [report], "sequence": sequence}
    return ExecutionsReceived(parse_executions(frame), 1)


def _fill_row_order_pk(url: str) -> int | None:
    [fill] = History(url).fills()
    return fill.order_pk


def _ended_order(engine: Engine) -> int:
    """An order that ended before this run: in the database, not in the order manager's book."""
    with make_sessionmaker(engine)() as session:
        pk = repository.insert_order(session, account="acct", symbol="BTC/USD", side="buy",
                                     order_type="limit", order_qty=Decimal("0.01"),
                                     limit_price=Decimal("1000"), params={}, status="canceled",
                                     created_at=datetime.now(UTC), cl_ord_id="z",
                                     order_id=ORDER_ID)  # fmt: skip
        session.commit()
    return pk


@pytest.mark.parametrize("restart", [False, True], ids=["same run", "after a restart"])
def test_a_fill_recorded_before_its_order_had_an_id_is_booked_when_it_gets_one(
    database: tuple[Engine, str], start: Callable[[Engine], OrderManagerActor], restart: bool
) -> None:
    engine, url = database
    om = start(engine)
    _placed(om)
    om.on_receive(_reconciled(_rest_trade()))
    assert _fill_row_order_pk(url) is None  # recorded at once, with no order yet
    if restart:
        om.on_stop()
        om = start(engine)
    _ack(om)
    order = om._book.get_by_pk(1)
    assert order is not None and order.order_id == ORDER_ID
    assert (order.fees, order.cum_qty, order.status) == (
        Decimal("0.0104"),
        Decimal("0.004"),
        OrderStatus.PARTIALLY_FILLED,
    )
    assert _fill_row_order_pk(url) == 1
    [row] = History(url).orders()
    assert (row.fees, row.cum_qty, row.status) == (
        Decimal("0.0104"),
        Decimal("0.004"),
        "partially_filled",
    )


def test_fills_for_an_order_no_longer_in_memory_are_booked_from_the_database(
    database: tuple[Engine, str], start: Callable[[Engine], OrderManagerActor]
) -> None:
    engine, url = database
    pk = _ended_order(engine)
    om = start(engine)
    assert om._book.get_by_pk(pk) is None
    om.on_receive(_reconciled(_rest_trade(1), _rest_trade(2)))
    [row] = History(url).orders()
    assert (row.fees, row.cum_qty, row.status) == (Decimal("0.0208"), Decimal("0.008"), "canceled")
    assert [f.order_pk for f in History(url).fills()] == [pk, pk]


def test_an_external_orders_fill_read_before_the_order_is_booked_when_it_is_recorded(
    database: tuple[Engine, str], start: Callable[[Engine], OrderManagerActor]
) -> None:
    engine, url = database
    om = start(engine)
    om.on_receive(_reconciled(_rest_trade()))  # placed elsewhere: no order of ours matches
    report = OrderStatusReport(order_id=ORDER_ID, order_status="partially_filled",
                               symbol="BTC/USD", side="buy", order_type="limit",
                               order_qty=Decimal("0.01"), limit_price=Decimal("1000"),
                               cum_qty=Decimal("0.004"), cum_cost=Decimal("4"),
                               source="reconciliation")  # fmt: skip
    om.on_receive(VenueSnapshot("reconnect", (report,), (), datetime.now(UTC)))
    [row] = History(url).orders()
    assert (row.origin, row.fees, row.cum_qty) == ("external", Decimal("0.0104"), Decimal("0.004"))
    assert _fill_row_order_pk(url) == row.id


def test_an_order_forgotten_because_others_ended_after_it_gets_its_late_fill(
    database: tuple[Engine, str],
    start: Callable[[Engine], OrderManagerActor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # however fast orders end, the book keeps only the newest ended ones (1 here); the
    # database keeps the rest, and a fill that comes later still reaches its order
    monkeypatch.setattr(order_manager, "_ENDED_KEPT_MAX", 1)
    engine, url = database
    om = start(engine)
    _placed(om, "a")
    _placed(om, "b")
    _ack(om, 1, ORDER_ID, "a")
    _ack(om, 2, "OLATER-ABCDE-FGHIJK", "b")
    om.inlet.tell(_canceled(ORDER_ID, "a", 3))
    om.inlet.tell(_canceled("OLATER-ABCDE-FGHIJK", "b", 4))
    om.on_receive(DrainFacts())
    assert om._book.get_by_pk(1) is None, "the order that ended first left the book"
    later = om._book.get_by_pk(2)
    assert later is not None and later.status is OrderStatus.CANCELED
    om.on_receive(_reconciled(_rest_trade()))
    rows = {row.id: row for row in History(url).orders()}
    assert (rows[1].fees, rows[1].cum_qty, rows[1].status) == (
        Decimal("0.0104"),
        Decimal("0.004"),
        "canceled",
    )
    assert [f.order_pk for f in History(url).fills()] == [1]
