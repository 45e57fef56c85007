"""An order's timeline holds the requests that named it and their answers, not only its reports.

An operator asking why an order ended canceled finds the cancel that asked for it, when it was
sent and what Kraken answered, in `History.timeline` (and `kraken-router order`), beside the
executions reports. A request that names no order (cancel_all) stays in the journal unlinked.
Real simulator, real SQLite file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import limit_buy

from engine import Engine
from engine.simulator import Simulator
from persistence.history import History


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    engine = make_engine()
    engine.connect(timeout=10)
    return engine


def _resting(engine: Engine, price: str = "26500.4") -> str:
    """A resting buy's Kraken order id."""
    placed = engine.submit_spot_order(**limit_buy(limit_price=Decimal(price)))
    order_id: str = placed.result(timeout=5).result.order_id
    return order_id


def _asked(engine: Engine, key: str) -> list[tuple[str, str]]:
    timeline = History(engine.config.database_url).timeline(key)
    assert timeline is not None
    return [
        (e.source, e.kind) for e in timeline.events if e.source in ("request", "acknowledgement")
    ]


def _unlinked(engine: Engine) -> list[str]:
    path = engine.config.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(Path(path)) as db:
        rows = db.execute("SELECT kind FROM order_events WHERE order_pk IS NULL ORDER BY id")
        return [kind for (kind,) in rows]


def test_an_amend_and_a_cancel_are_in_the_orders_timeline(engine: Engine) -> None:
    order_id = _resting(engine)
    engine.amend_spot_order(order_id=order_id, limit_price=Decimal("26400.0")).result(timeout=5)
    engine.cancel_spot_order(order_id=order_id).result(timeout=5)
    engine.wait_for_events()

    assert _asked(engine, order_id) == [
        ("request", "intent"),
        ("acknowledgement", "ack"),
        ("request", "amend_order"),
        ("acknowledgement", "amend_order"),
        ("request", "cancel_order"),
        ("acknowledgement", "cancel_order"),
    ]
    assert _unlinked(engine) == []


def test_a_cancel_naming_two_orders_is_in_both_timelines_and_cancel_all_in_none(
    engine: Engine, sim: Simulator
) -> None:
    first, second, third = (
        engine.submit_spot_order(**limit_buy(limit_price=price)).result(timeout=5).result
        for price in (Decimal("26000"), Decimal("26100"), Decimal("26200"))
    )
    # one by Kraken's id, one by ours
    engine.cancel_spot_order(order_id=first.order_id, cl_ord_id=second.cl_ord_id).result(timeout=5)
    engine.cancel_all_spot_orders().result(timeout=5)
    engine.wait_for_events()

    for order in (first, second):
        assert _asked(engine, order.order_id)[-2:] == [
            ("request", "cancel_order"),
            ("acknowledgement", "cancel_order"),
        ]
    assert [kind for _, kind in _asked(engine, third.order_id)] == ["intent", "ack"]
    assert _unlinked(engine) == ["cancel_all", "cancel_all"]  # the request and its answer
    on_kraken = {o["order_id"]: o["status"] for o in sim.control.state()["orders"]}
    assert set(on_kraken.values()) == {"canceled"} and len(on_kraken) == 3


def test_a_refused_cancel_of_a_known_order_is_in_its_timeline(engine: Engine) -> None:
    order_id = _resting(engine)
    engine.cancel_spot_order(order_id=order_id).result(timeout=5)
    # canceled already: Kraken refuses a second cancel of it
    refused = engine.cancel_spot_order(order_id=order_id)
    assert refused.exception(timeout=5) is not None
    engine.wait_for_events()

    assert _asked(engine, order_id)[-2:] == [
        ("request", "cancel_order"),
        ("acknowledgement", "cancel_order:refused"),
    ]


def test_an_edit_is_in_the_replaced_orders_timeline(engine: Engine) -> None:
    original = _resting(engine)
    with pytest.warns(DeprecationWarning):
        edit = engine.edit_spot_order(
            order_id=original, symbol="BTC/USD", limit_price=Decimal("26300.0")
        )
    replacement = edit.result(timeout=5).result.order_id
    engine.wait_for_events()

    assert _asked(engine, original) == [
        ("request", "intent"),
        ("acknowledgement", "ack"),
        ("request", "edit_order"),
    ]
    assert _asked(engine, replacement) == [("request", "intent"), ("acknowledgement", "ack")]
    timeline = History(engine.config.database_url).timeline(replacement)
    assert timeline is not None and timeline.order.replaces_id is not None
