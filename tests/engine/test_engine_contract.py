"""CONTRACT.md points: the engine under every outcome Kraken leaves undocumented, token refusal
mid-session, userref-only identity, and tolerance of duplicated or malformed frames."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from engine import Engine
from engine.errors import EngineStopped, LocalRejection, VenueRejection
from engine.simulator import Simulator
from persistence.history import History


def _buy(price: str = "20000.0", **extra: Any) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("1"),
        "limit_price": Decimal(price),
        **extra,
    }


class Statuses:
    """Waits for an order to reach a status, through the engine's own `order` events."""

    def __init__(self, engine: Engine) -> None:
        self._seen: dict[str, str] = {}
        self._cond = threading.Condition()
        engine.on("order", self._on_order)

    def _on_order(self, event: Any) -> None:
        with self._cond:
            order = event.data.order
            for key in (order.order_id, order.cl_ord_id):
                if key:
                    self._seen[key] = order.status.value
            self._cond.notify_all()

    def wait(self, order_id: str, status: str, timeout: float = 5.0) -> None:
        """`order_id` may be a cl_ord_id (an order Kraken refused has no order_id)."""
        with self._cond:
            assert self._cond.wait_for(lambda: self._seen.get(order_id) == status, timeout), (
                self._seen.get(order_id)
            )


def _check_against_truth(engine: Engine, sim: Simulator) -> None:
    engine.wait_for_events()
    truth = {o["order_id"]: o for o in sim.control.state()["orders"]}
    rows = {o.order_id: o for o in History(engine.config.database_url).orders() if o.order_id}
    assert set(rows) == set(truth)
    for order_id, expected in truth.items():
        row = rows[order_id]
        assert (row.status, row.cum_qty, row.fees) == (
            expected["status"],
            expected["cum_qty"],
            expected["fees"],
        )
    fills = History(engine.config.database_url).fills()
    assert sorted(f.exec_id for f in fills) == sorted(
        t["exec_id"] for t in sim.control.state()["trades"]
    )


@pytest.mark.parametrize(
    "behaviour",
    [
        {"ack_first": True},
        {"ack_first": False},
        {"filled_on_last_trade": True},
        {"batch_cancel_shape": "orders_cancelled"},
        {"duplicate_snapshot": True},
        {"batch_cancel_reports": True},
        {"market_emits_new": True},
    ],
    ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items()),
)
def test_lifecycle_converges_under_each_undocumented_variant(
    make_engine: Callable[..., Engine], sim: Simulator, behaviour: dict[str, Any]
) -> None:
    sim.control.set_behaviour(**behaviour)
    engine = make_engine()
    statuses = Statuses(engine)
    engine.connect()
    resting = engine.submit_spot_order(**_buy()).result(timeout=5).result.order_id
    filled = engine.submit_spot_order(**_buy("20001.0")).result(timeout=5).result.order_id
    sim.control.fill(filled, qty=Decimal("0.4"))
    sim.control.fill(filled)
    statuses.wait(filled, "filled")
    market = engine.submit_spot_order(
        order_type="market", side="buy", symbol="BTC/USD", order_qty=Decimal("0.5")
    ).result(timeout=5)
    statuses.wait(market.result.order_id, "filled")
    others = [
        engine.submit_spot_order(**_buy(f"1900{i}.0")).result(5).result.order_id for i in range(2)
    ]
    assert engine.batch_cancel_spot_orders(orders=others).result(timeout=5).result.count == 2
    engine.cancel_spot_order(order_id=resting).result(timeout=5)
    statuses.wait(resting, "canceled")
    for order_id in others:
        statuses.wait(order_id, "canceled")
    _check_against_truth(engine, sim)


@pytest.mark.parametrize("refusal", ["cancel", "sync"])
def test_post_only_refusal_either_way(
    make_engine: Callable[..., Engine], sim: Simulator, refusal: str
) -> None:
    sim.control.set_behaviour(post_only_refusal=refusal)
    engine = make_engine()
    statuses = Statuses(engine)
    engine.connect()
    crossing = _buy("70000.0", post_only=True)  # above the reference price: would take
    future = engine.submit_spot_order(**crossing, cl_ord_id="post-only-crossing")
    if refusal == "sync":
        with pytest.raises(VenueRejection) as caught:
            future.result(timeout=5)
        assert caught.value.error == "EOrder:Post only order"
        # the future follows the answer; the database follows a moment later
        statuses.wait("post-only-crossing", "rejected")
        assert [o.status for o in History(engine.config.database_url).orders()] == ["rejected"]
    else:
        order_id = future.result(timeout=5).result.order_id
        statuses.wait(order_id, "canceled")
        [row] = History(engine.config.database_url).orders()
        assert row.reason == "Post only order"
    _check_against_truth(engine, sim)


def test_token_refused_mid_session_is_reported_and_a_fresh_token_is_used(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    reconnected = threading.Event()
    engine.on("reconnected", lambda _e: reconnected.set())
    engine.connect()
    sim.control.invalidate_tokens()
    with pytest.raises(VenueRejection) as caught:
        engine.submit_spot_order(**_buy()).result(timeout=5)
    assert caught.value.error == "ESession:Invalid session"
    assert reconnected.wait(5), "a fresh token and subscription after the refusal"
    assert engine.submit_spot_order(**_buy()).result(timeout=5).success


def test_second_in_flight_order_with_same_userref_is_refused_locally(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    sim.control.delay_responses(Decimal("0.5"))  # keep the first one in flight for a moment
    engine.connect()
    first = engine.submit_spot_order(**_buy(order_userref=7))
    second = engine.submit_spot_order(**_buy("20000.5", order_userref=7))
    with pytest.raises(LocalRejection) as caught:
        second.result(timeout=5)
    assert caught.value.field == "order_userref"
    assert first.result(timeout=5).success
    # once Kraken has named the first one, the same userref is fine again
    assert engine.submit_spot_order(**_buy("20000.5", order_userref=7)).result(timeout=5).success


def test_duplicated_execution_and_malformed_frame_change_nothing(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    statuses = Statuses(engine)
    engine.connect()
    order_id = engine.submit_spot_order(**_buy()).result(timeout=5).result.order_id
    statuses.wait(order_id, "new")
    sim.control.duplicate_next_execution()
    sim.control.fill(order_id, qty=Decimal("0.25"))
    sim.control.send_malformed_frame()
    statuses.wait(order_id, "partially_filled")
    sim.control.fill(order_id)
    statuses.wait(order_id, "filled")
    assert sim.control.state()["faults_fired"]["duplicate_next_execution"] >= 1
    _check_against_truth(engine, sim)
    [row] = History(engine.config.database_url).orders()
    assert row.cum_qty == Decimal("1")
    assert len(History(engine.config.database_url).fills()) == 2


def test_a_lost_executions_update_is_back_filled_over_rest(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    statuses = Statuses(engine)
    reconciled = threading.Event()
    engine.on("reconciled", lambda e: reconciled.set() if "gap" in e.data["reason"] else None)
    engine.connect()
    order_id = engine.submit_spot_order(**_buy()).result(timeout=5).result.order_id
    statuses.wait(order_id, "new")
    sim.control.lose_next_execution()  # the trade report never arrives; its sequence is used
    sim.control.fill(order_id)
    # the next update arrives with a jump in the sequence: the engine asks REST what it missed
    engine.submit_spot_order(**_buy("19999.0")).result(timeout=5)
    assert reconciled.wait(10)
    statuses.wait(order_id, "filled")
    assert sim.control.state()["faults_fired"]["lose_next_execution"] == 1
    _check_against_truth(engine, sim)
    [fill] = History(engine.config.database_url).fills(order_id=order_id)
    assert fill.qty == Decimal("1")


def test_stopping_with_requests_in_the_pipeline_leaves_no_future_hanging(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    engine.connect()
    futures = [engine.submit_spot_order(**_buy(f"1{i:04d}.0")) for i in range(300)]
    engine.stop()
    for future in futures:  # each one answered, refused, unknown or never sent: none hangs
        future.exception(timeout=10)
    assert isinstance(engine.submit_spot_order(**_buy()).exception(timeout=1), EngineStopped)
    engine.wait_for_events()
    # write-ahead: every order that reached the venue has its row, acknowledged or not (the
    # next start's reconciliation gives the unacknowledged ones their ids)
    rows = {r.cl_ord_id for r in History(engine.config.database_url).orders()}
    assert {o["cl_ord_id"] for o in sim.control.state()["orders"]} <= rows


def test_an_order_placed_by_another_client_is_recorded_as_external(
    make_engine: Callable[..., Engine], sim: Simulator, rest: Any
) -> None:
    engine = make_engine()
    reconciled = threading.Event()
    engine.on("reconciled", lambda _e: reconciled.set())
    engine.connect()
    placed = rest.call(
        "AddOrder",
        {"ordertype": "limit", "type": "buy", "volume": "0.5", "pair": "XBTUSD", "price": "21000"},
        nonce=time.time_ns() // 1000,  # the engine's nonce scale: the key is shared
    )
    [txid] = placed["result"]["txid"]
    sim.control.drop_connections()  # the reconnect's reconciliation sees it over REST
    assert reconciled.wait(10)
    engine.wait_for_events()
    [row] = [o for o in History(engine.config.database_url).orders() if o.order_id == txid]
    assert (row.origin, row.status, row.order_qty) == ("external", "new", Decimal("0.5"))
    assert engine.get_order(txid) is not None
