"""The tier's cap on open orders per pair is refused locally, before anything is written or sent
(Kraken would answer `EOrder:Orders limit exceeded` after a round trip and a counter point).
Engine and simulator on the intermediate tier: 80 open orders per pair."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config

from engine import Engine
from engine.errors import LocalRejection
from engine.simulator import Simulator
from persistence.history import History

CAP = 80


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tier="intermediate") as simulator:
        yield simulator


def _resting(i: int, symbol: str = "BTC/USD") -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": symbol,
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(f"{1000 + i}.0"),
    }


def test_orders_past_the_pairs_open_cap_are_refused_locally(sim: Simulator, tmp_path: Path) -> None:
    config = engine_config(sim, tmp_path, "intermediate")
    resting: set[str] = set()
    seen = threading.Condition()

    def on_order(event: Any) -> None:
        with seen:
            if event.data.kind == "order_new":
                resting.add(event.data.order.order_id)
            seen.notify_all()

    def until_resting(n: int) -> None:
        with seen:
            assert seen.wait_for(lambda: len(resting) >= n, timeout=10), len(resting)

    with Engine(config) as engine:
        engine.on("order", on_order)
        engine.connect()
        futures = [engine.submit_spot_order(**_resting(i)) for i in range(CAP - 1)]
        placed = [f.result(timeout=10).result for f in futures]
        # only what Kraken shows resting counts: wait until every one is `new`
        until_resting(CAP - 1)

        # a batch of two would make 81: refused whole, naming the pair
        batch = engine.batch_submit_spot_orders("BTC/USD", [_resting(100), _resting(101)])
        with pytest.raises(LocalRejection, match="80 per pair") as caught:
            batch.result(timeout=5)
        assert caught.value.field == "symbol"
        assert engine.submit_spot_order(**_resting(102)).result(timeout=5).success  # the 80th
        until_resting(CAP)
        with pytest.raises(LocalRejection):
            engine.submit_spot_order(**_resting(103)).result(timeout=5)
        # the cap is per pair
        assert engine.submit_spot_order(**_resting(0, "ETH/USD")).result(timeout=5).success
        # a canceled order frees its place
        assert engine.cancel_spot_order(order_id=placed[0].order_id).result(timeout=5).success
        engine.wait_for_events()
        assert engine.get_order(placed[0].order_id).status.value == "canceled"  # type: ignore[union-attr]
        assert engine.submit_spot_order(**_resting(104)).result(timeout=5).success

    truth = sim.control.state()["orders"]
    assert sum(o["symbol"] == "BTC/USD" and o["status"] == "new" for o in truth) == CAP
    assert len(truth) == CAP + 2  # 80 on BTC/USD (one canceled, one added), one on ETH/USD
    assert len(History(config.database_url).orders()) == CAP + 2, "refusals wrote nothing"
