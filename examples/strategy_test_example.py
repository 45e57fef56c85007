"""Testing a strategy against the bundled simulator: a pytest module to copy.

    pytest examples/strategy_test_example.py

The simulator is a real Kraken venue on 127.0.0.1 (WebSocket v2, REST, signatures, tokens), in
your test's process, with a control API that plays the market: it fills a resting order, moves
a reference price, drops the socket or swallows an answer. The engine under test is the one
you trade with, on a SQLite file of the test's own, so a test can check what the strategy did
and what the database kept, and wait on events, never on sleeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, EngineConfig
from engine.errors import LocalRejection
from engine.simulator import Simulator
from persistence.history import History


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tier="pro") as venue:
        yield venue


@pytest.fixture
def engine(sim: Simulator, tmp_path: Path) -> Iterator[Engine]:
    config = EngineConfig(
        api_key=sim.api_key,
        api_secret=sim.api_secret,
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        database_url=f"sqlite:///{tmp_path / 'orders.db'}",
        rate_limit_tier="pro",  # pace orders as the simulator's tier counts them
        dead_mans_switch_timeout=0,  # a test that wants the switch turns it on
        attach_default_listeners=False,
    )
    with Engine(config) as running:
        running.connect(timeout=10)
        yield running


class Seen:
    """The first `order` event of each kind for each cl_ord_id, waited on with a timeout."""

    def __init__(self, engine: Engine) -> None:
        self._kinds: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        engine.on("order", self._on_order)

    def _event(self, cl_ord_id: str, kind: str) -> threading.Event:
        with self._lock:
            return self._kinds.setdefault((cl_ord_id, kind), threading.Event())

    def _on_order(self, event: Any) -> None:
        if event.data.order.cl_ord_id:
            self._event(event.data.order.cl_ord_id, event.data.kind).set()

    def wait(self, cl_ord_id: str, kind: str, timeout: float = 10.0) -> None:
        assert self._event(cl_ord_id, kind).wait(timeout), f"no {kind} for {cl_ord_id}"


def test_a_filled_buy_is_in_the_history_with_its_fee(engine: Engine, sim: Simulator) -> None:
    seen = Seen(engine)
    order_id = (
        engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("0.5"),
            limit_price=Decimal("26000"),
            cl_ord_id="strategy-1",
        )
        .result(timeout=10)
        .result.order_id
    )

    sim.control.fill(order_id)  # the market trades against the resting order
    seen.wait("strategy-1", "order_filled")

    with History(engine.config.database_url) as history:
        order = history.order("strategy-1")
        assert order is not None
        assert order.status == "filled" and order.cum_qty == Decimal("0.5")
        [fill] = history.fills(order_id=order_id)
        assert fill.price == Decimal("26000") and fill.fee > 0


def test_a_bad_price_is_refused_before_anything_is_sent(engine: Engine, sim: Simulator) -> None:
    with pytest.raises(LocalRejection) as refused:
        engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("0.5"),
            limit_price=Decimal("26000.05"),  # BTC/USD's tick is 0.1
        ).result(timeout=10)

    assert refused.value.field == "limit_price"
    assert sim.control.state()["orders"] == []  # Kraken never saw it
