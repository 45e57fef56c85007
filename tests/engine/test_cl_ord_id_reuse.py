"""A cl_ord_id used again: refused locally while its first order is unacknowledged, left to
Kraken once that order has an id. Before, a second order with the cl_ord_id of one still in
flight stopped the whole engine (the book's DuplicateOrder met in the order manager), and so
did a batch whose rows shared a cl_ord_id, or a userref without one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from engine_support import limit_buy

from engine import Engine
from engine.errors import LocalRejection, NotSent, VenueRejection
from engine.simulator import Simulator
from persistence.history import History


def _rows(engine: Engine) -> list[tuple[str, str | None]]:
    engine.wait_for_events()
    orders = History(engine.config.database_url).orders()
    return sorted((o.status, o.order_id) for o in orders)


def test_a_cl_ord_id_whose_order_is_unacknowledged_is_refused_locally(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    sim.control.refuse_connections(10_000)  # the first order waits, unsent, for a socket
    engine = make_engine(request_timeout=1.0)
    given_up = threading.Event()  # its row written: the future fails first
    engine.on("order", lambda e: given_up.set() if e.data.kind == "order_not_sent" else None)
    first = engine.submit_spot_order(**limit_buy(cl_ord_id="again"))
    second = engine.submit_spot_order(**limit_buy(cl_ord_id="again"))

    with pytest.raises(LocalRejection) as refused:
        second.result(timeout=5)
    assert refused.value.field == "cl_ord_id"
    assert "not acknowledged yet" in refused.value.reason
    with pytest.raises(NotSent):
        first.result(timeout=5)
    assert given_up.wait(timeout=10)
    assert engine.state == "running"
    assert [status for status, _ in _rows(engine)] == ["not_sent"]


def test_two_rows_of_a_batch_with_one_cl_ord_id_are_refused(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    engine.connect()
    batch = engine.batch_submit_spot_orders(
        "BTC/USD", [limit_buy(cl_ord_id="twice"), limit_buy(cl_ord_id="twice")]
    )
    with pytest.raises(LocalRejection, match="two orders of the batch"):
        batch.result(timeout=5)
    assert sim.control.state()["orders"] == []
    assert _rows(engine) == []


def test_two_rows_of_a_batch_with_one_userref_and_no_cl_ord_id_are_refused(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    """Before, this stopped the engine too (the second row's intent met the first's)."""
    engine = make_engine()
    engine.connect()
    rows = [limit_buy(order_userref=7), limit_buy(order_userref=7)]
    with pytest.raises(LocalRejection, match="two orders of the batch") as refused:
        engine.batch_submit_spot_orders("BTC/USD", rows).result(timeout=5)
    assert refused.value.field == "order_userref"
    assert engine.state == "running"
    assert sim.control.state()["orders"] == []
    assert _rows(engine) == []
    rows = [limit_buy(order_userref=7), limit_buy(order_userref=8)]
    assert engine.batch_submit_spot_orders("BTC/USD", rows).result(timeout=5).success


def test_kraken_decides_once_the_first_order_has_its_id(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    filled = threading.Event()
    engine.on("order", lambda e: filled.set() if e.data.kind == "order_partially_filled" else None)
    engine.connect()
    first = engine.submit_spot_order(**limit_buy(cl_ord_id="reused")).result(timeout=5)

    # still open on Kraken: Kraken refuses the second, the first is untouched
    with pytest.raises(VenueRejection) as refused:
        engine.submit_spot_order(**limit_buy(cl_ord_id="reused")).result(timeout=5)
    assert refused.value.error == "EOrder:Duplicate cl_ord_id"

    # canceled: the cl_ord_id is free again at once, and the two orders stay apart
    engine.cancel_spot_order(cl_ord_id="reused").result(timeout=5)
    third = engine.submit_spot_order(**limit_buy(cl_ord_id="reused")).result(timeout=5)
    sim.control.fill(third.result.order_id, qty=Decimal("0.5"))
    assert filled.wait(timeout=10)

    assert engine.state == "running"
    rows = History(engine.config.database_url).orders()
    assert sorted((o.status, o.order_id, o.cum_qty) for o in rows) == sorted(
        [
            ("canceled", first.result.order_id, Decimal(0)),
            ("rejected", None, Decimal(0)),
            ("partially_filled", third.result.order_id, Decimal("0.5")),
        ]
    )
    assert {o.cl_ord_id for o in rows} == {"reused"}


def test_an_edit_whose_replacement_takes_an_in_flight_orders_userref_is_refused(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    """The replacement's intent would meet an order still in flight with only that userref;
    before, that stopped the engine."""
    engine = make_engine(request_timeout=10.0)
    closed = threading.Event()
    engine.on("close", lambda _e: closed.set())
    engine.connect()
    original = engine.submit_spot_order(**limit_buy(cl_ord_id="edited")).result(timeout=5)
    # no socket for a while: the next two commands wait together and are taken in order
    sim.control.refuse_connections(10_000)
    sim.control.drop_connections()
    assert closed.wait(timeout=10)
    tagged = engine.submit_spot_order(**limit_buy(order_userref=5))
    with pytest.warns(DeprecationWarning):
        edit = engine.edit_spot_order(
            order_id=original.result.order_id,
            symbol="BTC/USD",
            order_qty=Decimal("1.0"),
            order_userref=5,
        )
    sim.control.reset_faults()

    with pytest.raises(LocalRejection) as refused:
        edit.result(timeout=15)
    assert refused.value.field == "order_userref"
    assert tagged.result(timeout=15).success
    assert engine.state == "running"
