"""Instrument rules refused locally, in the caller's thread: nothing sent, no row written."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config, limit_buy

from engine import Engine, EngineConfig
from engine.errors import LocalRejection
from engine.instruments import CACHE_KEY
from engine.kraken.codec import decode, encode
from engine.simulator import Simulator
from persistence import repository
from persistence.db import make_engine, make_sessionmaker
from persistence.history import History


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(tier="unlimited") as simulator:
        yield simulator


def _config(sim: Simulator, tmp_path: Path, **extra: Any) -> EngineConfig:
    return engine_config(sim, tmp_path, **extra)


def _order(**extra: Any) -> dict[str, Any]:
    # BTC/USD in the simulator: tick 0.1, 8 lot decimals, ordermin 0.00005, costmin 0.5
    return limit_buy(**{"order_qty": Decimal("0.001"), "limit_price": Decimal("20000.0"), **extra})


VIOLATIONS = [
    ("off the tick", {"limit_price": Decimal("20000.05")}, "limit_price"),
    ("under ordermin", {"order_qty": Decimal("0.00004")}, "order_qty"),
    ("too many decimals", {"order_qty": Decimal("0.000100001")}, "order_qty"),
    ("cost under costmin", {"order_qty": Decimal("0.0001"), "limit_price": Decimal("10.0")},
     "order_qty"),
    ("unknown pair", {"symbol": "DOGE/EUR"}, "symbol"),
    ("the pair's REST wsname", {"symbol": "XBT/USD"}, "symbol"),
    ("the pair's REST altname", {"symbol": "XBTUSD"}, "symbol"),
]  # fmt: skip


def test_a_rest_spelling_of_a_pair_is_refused_naming_its_websocket_v2_symbol(
    sim: Simulator, tmp_path: Path
) -> None:
    with Engine(_config(sim, tmp_path)) as engine:
        engine.connect()
        with pytest.raises(LocalRejection) as caught:
            engine.submit_spot_order(**_order(symbol="XXBTZUSD")).result(timeout=0)
    assert caught.value.field == "symbol"
    assert "'BTC/USD'" in caught.value.reason
    assert sim.control.state()["orders"] == []


@pytest.mark.parametrize(("name", "change", "field"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_each_rule_is_refused_locally_naming_the_field(
    sim: Simulator, tmp_path: Path, name: str, change: dict[str, Any], field: str
) -> None:
    with Engine(_config(sim, tmp_path)) as engine:
        engine.connect()
        future = engine.submit_spot_order(**_order(**change))
        assert future.done()  # refused in the caller's thread
        with pytest.raises(LocalRejection) as caught:
            future.result(timeout=0)
        assert caught.value.field == field
        batch = engine.batch_submit_spot_orders("BTC/USD", [_order(), _order(**change)])
        with pytest.raises(LocalRejection):
            batch.result(timeout=0)
        # a valid order still goes through
        assert engine.submit_spot_order(**_order()).result(timeout=5).success
    assert len(History(engine.config.database_url).orders()) == 1
    assert len(sim.control.state()["orders"]) == 1


def test_a_pair_not_online_is_refused_from_the_cache_when_asset_pairs_fails(
    sim: Simulator, tmp_path: Path
) -> None:
    # a first start caches AssetPairs in the database
    with Engine(_config(sim, tmp_path)):
        pass
    config = _config(sim, tmp_path)
    db = make_engine(config.database_url)
    sessions = make_sessionmaker(db)
    with sessions() as session, session.begin():
        cached = decode(repository.get_kv(session, config.account, CACHE_KEY) or "{}")
        cached["XXBTZUSD"]["status"] = "cancel_only"
        repository.set_kv(session, config.account, CACHE_KEY, encode(cached))
    db.dispose()
    # REST unreachable at start: the cache answers
    engine = Engine(_config(sim, tmp_path, rest_url="http://127.0.0.1:9")).start()
    try:
        assert engine._instruments is not None and engine._instruments.source == "cache"
        with pytest.raises(LocalRejection) as caught:
            engine.submit_spot_order(**_order()).result(timeout=0)
        assert caught.value.field == "symbol"
    finally:
        engine.stop()
    assert History(config.database_url).orders() == []


def test_without_asset_pairs_or_cache_orders_go_unchecked(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "kraken_router.instruments"):
        engine = Engine(_config(sim, tmp_path, rest_url="http://127.0.0.1:9")).start()
    try:
        assert "without local checks" in caplog.text
        future = engine.submit_spot_order(**_order(limit_price=Decimal("20000.05")))
        assert not future.done() or not isinstance(future.exception(), LocalRejection)
    finally:
        engine.stop()


def test_the_rules_refresh(sim: Simulator, tmp_path: Path) -> None:
    with Engine(_config(sim, tmp_path)) as engine:
        instruments = engine._instruments
        assert instruments is not None and instruments.source == "rest"
        before = instruments.pairs
        assert instruments.refresh() and instruments.pairs is not before


AMEND_VIOLATIONS = [
    ("off the tick", {"limit_price": Decimal("20000.05")}, "limit_price"),
    ("under ordermin", {"order_qty": Decimal("0.00004")}, "order_qty"),
    ("too many decimals", {"order_qty": Decimal("0.000100001")}, "order_qty"),
]


@pytest.mark.parametrize(
    ("name", "change", "field"), AMEND_VIOLATIONS, ids=[v[0] for v in AMEND_VIOLATIONS]
)
def test_an_amend_breaking_its_pairs_rules_is_refused_locally(
    sim: Simulator, tmp_path: Path, name: str, change: dict[str, Any], field: str
) -> None:
    with Engine(_config(sim, tmp_path)) as engine:
        engine.connect()
        placed = engine.submit_spot_order(**_order()).result(timeout=5).result
        with pytest.raises(LocalRejection) as caught:
            engine.amend_spot_order(order_id=placed.order_id, **change).result(timeout=5)
        assert caught.value.field == field
        # by cl_ord_id too: the order manager finds the pair in its book either way
        with pytest.raises(LocalRejection):
            engine.amend_spot_order(cl_ord_id=placed.cl_ord_id, **change).result(timeout=5)
        truth = sim.control.state()["orders"][0]
        assert (truth["limit_price"], truth["order_qty"]) == (Decimal("20000.0"), Decimal("0.001"))
        assert not truth["amended"], "nothing reached Kraken"
        # a valid amend still goes through; a cost under costmin is Kraken's to judge on an amend
        cheap = {"order_qty": Decimal("0.0001"), "limit_price": Decimal("100.0")}
        assert engine.amend_spot_order(order_id=placed.order_id, **cheap).result(timeout=5).success
    timeline = History(engine.config.database_url).timeline(placed.order_id)
    assert [e.kind for e in timeline.events if e.source == "request"] == ["intent", "amend_order"]
