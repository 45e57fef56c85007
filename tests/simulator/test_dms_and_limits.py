"""The dead man's switch outlives its socket; rate counters and order caps per tier."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.simulator import Simulator


def test_dms_fires_with_the_arming_socket_closed(
    sim: Simulator, connect: Callable[..., Any]
) -> None:
    watcher = connect()
    watcher.subscribe()
    armer = connect()
    ids = [armer.add(limit_price=Decimal(p))["result"]["order_id"] for p in ("40000.0", "41000.0")]
    watcher.reports(4)
    armed = armer.request("cancel_all_orders_after", {"timeout": 1})
    assert armed["success"]
    armer.close()
    sim.control.wait_for(lambda s: s["connections"] == 1, timeout=5)

    state = sim.control.wait_for(
        lambda s: all(o["status"] == "canceled" for o in s["orders"]), timeout=5
    )
    assert {o["reason"] for o in state["orders"]} == {"CancelAllOrdersAfter Timeout"}
    dms = state["dead_mans_switch"][sim.api_key]
    assert dms == {**dms, "armed": False, "fired_count": 1, "trigger_time": None}
    reports = watcher.reports(2)
    assert [r["order_id"] for r in reports] == ids
    assert all(r["exec_type"] == "canceled" for r in reports)
    assert all(r["reason"] == "CancelAllOrdersAfter Timeout" for r in reports)


def test_dms_is_one_timer_for_ws_and_rest(sim: Simulator, ws: Any, rest: Any) -> None:
    ws.request("cancel_all_orders_after", {"timeout": 30})
    rest.result("CancelAllOrdersAfter", {"timeout": 0})
    dms = sim.exchange.state()["dead_mans_switch"][sim.api_key]
    assert dms["armed"] is False and dms["arm_count"] == 1 and dms["last_timeout"] == 0


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_counter_ages_and_refuses_on_starter(rest_for: Callable[..., Any]) -> None:
    clock = FakeClock()
    with Simulator(tier="starter", clock=clock) as sim:
        rest = rest_for(sim.api_key, sim.api_secret, sim.rest_url)
        ids = []
        for _ in range(7):
            placed = rest.result("AddOrder", {"ordertype": "limit", "type": "buy",
                                              "pair": "XBTUSD", "volume": "0.01",
                                              "price": "40000.0"})  # fmt: skip
            ids.append(placed["txid"][0])
        counters = sim.exchange.state()["counters"][sim.api_key]
        assert counters["BTC/USD"] == Decimal(7)
        # six cancels of fresh orders cost +8 each: 7 + 48 = 55; the seventh would reach 63
        for txid in ids[:6]:
            assert rest.result("CancelOrder", {"txid": txid})["count"] == 1
        assert rest.call("CancelOrder", {"txid": ids[6]})["error"] == ["EOrder:Rate limit exceeded"]
        clock.now += 10  # decays 10 and ages the order into the +5 bracket: 45 + 5
        assert rest.result("CancelOrder", {"txid": ids[6]})["count"] == 1
        assert sim.exchange.state()["counters"][sim.api_key]["BTC/USD"] == Decimal(50)


def test_orders_limit_per_pair(rest_for: Callable[..., Any]) -> None:
    with Simulator(tier="starter") as sim:
        rest = rest_for(sim.api_key, sim.api_secret, sim.rest_url)
        sim.exchange.set_tier("unlimited")
        for _ in range(60):
            rest.result("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "SOLUSD",
                                     "volume": "1", "price": "100.00"})  # fmt: skip
        sim.control.set_tier("starter")
        refused = rest.call("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "SOLUSD",
                                         "volume": "1", "price": "100.00"})  # fmt: skip
        assert refused["error"] == ["EOrder:Orders limit exceeded"]
        other_pair = rest.call("AddOrder", {"ordertype": "limit", "type": "buy",
                                            "pair": "ETHUSD", "volume": "1",
                                            "price": "100.00"})  # fmt: skip
        assert other_pair["error"] == []


def test_batch_cancel_accepted_past_the_maximum(rest_for: Callable[..., Any]) -> None:
    clock = FakeClock()
    with Simulator(tier="starter", clock=clock) as sim:
        rest = rest_for(sim.api_key, sim.api_secret, sim.rest_url)
        ids = [
            rest.result("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "XBTUSD",
                                     "volume": "0.01", "price": "40000.0"})["txid"][0]
            for _ in range(10)
        ]  # fmt: skip
        reply = rest.result("CancelOrderBatch", {"orders": ids}, as_json=True)
        assert reply == {"count": 10}
        assert sim.exchange.state()["counters"][sim.api_key]["BTC/USD"] == Decimal(90)
        assert rest.call("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "XBTUSD",
                                      "volume": "0.01", "price": "40000.0"})["error"] == [
            "EOrder:Rate limit exceeded"
        ]  # fmt: skip
