"""A market buy sized by `cash_order_qty` (quote currency): placed, filled and recorded. Before,
its intent lacked an order_qty and the order manager's KeyError stopped the engine, and the
simulator refused what Kraken accepts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from engine import Engine
from engine.simulator import Simulator
from persistence.history import History


def test_a_cash_sized_market_buy_fills_and_its_row_matches_the_venue(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    sim.control.set_reference_price("BTC/USD", Decimal("26600.0"))
    engine = make_engine()
    filled = threading.Event()
    engine.on("order", lambda e: filled.set() if e.data.kind == "order_filled" else None)
    engine.connect()

    answer = engine.submit_spot_order(
        order_type="market", side="buy", symbol="BTC/USD", cash_order_qty=Decimal("100")
    ).result(timeout=5)
    assert filled.wait(timeout=10)

    [venue] = sim.control.state()["orders"]
    assert venue["order_id"] == answer.result.order_id and venue["status"] == "filled"
    [row] = History(engine.config.database_url).orders()
    assert (row.order_type, row.status) == ("market", "filled")
    assert row.cum_qty == Decimal(str(venue["cum_qty"])) > 0
    assert row.cum_qty * Decimal("26600.0") <= Decimal("100")  # the cash bought no more
    assert engine.state == "running"
