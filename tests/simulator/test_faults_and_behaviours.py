"""Every fault knob once, and every alternative for what Kraken leaves undocumented."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import websocket

from engine.simulator import Simulator


def _fired(sim: Simulator, name: str) -> int:
    return int(sim.control.state()["faults_fired"][name])


def _closed(client: Any) -> bool:
    """True once the server has dropped the socket (recv hits EOF or a reset)."""
    try:
        while True:
            client.ws.recv()
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True


def test_drop_connections(sim: Simulator, connect: Callable[..., Any]) -> None:
    clients = [connect(token=None) for _ in range(2)]
    sim.control.wait_for(lambda s: s["connections"] == 2, timeout=5)
    assert sim.control.drop_connections() == 2
    assert all(_closed(c) for c in clients)
    sim.control.wait_for(lambda s: s["connections"] == 0, timeout=5)
    assert _fired(sim, "drop_connections") == 1


def test_drop_after_n_frames(sim: Simulator, ws: Any) -> None:
    sim.control.drop_after(1)  # pending_new goes out, then the socket drops before the ack
    ws.send("add_order", {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                          "limit_price": Decimal("50000.0"), "symbol": "BTC/USD"})  # fmt: skip
    frame = ws.recv()
    assert frame["data"][0]["exec_type"] == "pending_new"
    assert _closed(ws)
    state = sim.control.wait_for(lambda s: s["faults_fired"]["drop_after"] == 1, timeout=5)
    assert state["orders"][0]["status"] == "new"  # the order is live despite the lost ack


def test_delay_responses_not_executions(sim: Simulator, ws: Any) -> None:
    sim.control.delay_responses(0.3)
    started = time.monotonic()
    ws.send("add_order", {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                          "limit_price": Decimal("50000.0"), "symbol": "BTC/USD"})  # fmt: skip
    first, second, third = ws.recv(), ws.recv(), ws.recv()
    assert [first["data"][0]["exec_type"], second["data"][0]["exec_type"]] == ["pending_new", "new"]
    assert third["method"] == "add_order" and time.monotonic() - started >= 0.3
    assert _fired(sim, "delay_responses") == 1
    sim.control.reset_faults()
    assert ws.request("ping")["method"] == "pong"


def test_swallow_responses(sim: Simulator, ws: Any) -> None:
    sim.control.swallow_responses(1)
    ws.send("add_order", {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                          "limit_price": Decimal("50000.0"), "symbol": "BTC/USD"})  # fmt: skip
    pong = ws.request("ping", req_id=99)  # the next thing answered is the ping
    assert pong["method"] == "pong" and pong["req_id"] == 99
    assert [f["data"][0]["exec_type"] for f in ws.backlog] == ["pending_new", "new"]
    assert len(sim.exchange.state()["orders"]) == 1
    assert _fired(sim, "swallow_responses") == 1


def test_refuse_connections(sim: Simulator, connect: Callable[..., Any]) -> None:
    sim.control.refuse_connections(1)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(token=None)
    assert refused.value.status_code == 503
    assert connect(token=None).status["channel"] == "status"
    assert _fired(sim, "refuse_connections") == 1


def test_refuse_token_requests(sim: Simulator, rest: Any) -> None:
    sim.control.refuse_token_requests(1)
    assert rest.call("GetWebSocketsToken")["error"] == ["EService:Unavailable"]
    assert rest.call("GetWebSocketsToken")["error"] == []
    assert _fired(sim, "refuse_token_requests") == 1


def test_fail_requests_ws_and_rest(sim: Simulator, ws: Any, rest: Any) -> None:
    sim.control.fail_requests(1, error="EOrder:Rate limit exceeded", transport="ws")
    assert ws.add()["error"] == "EOrder:Rate limit exceeded"
    sim.control.fail_requests(1, error="EAPI:Rate limit exceeded", transport="rest")
    assert ws.add()["success"] is True
    assert rest.call("CancelAll")["error"] == ["EAPI:Rate limit exceeded"]
    assert rest.call("OpenOrders")["error"] == []
    assert len(sim.exchange.state()["orders"]) == 1  # the failed requests executed nothing
    assert _fired(sim, "fail_requests") == 2


def test_duplicate_next_execution(sim: Simulator, ws: Any) -> None:
    sim.control.duplicate_next_execution()
    ws.add()
    first, second, third = ws.channel(), ws.channel(), ws.channel()
    assert first == second and first["data"][0]["exec_type"] == "pending_new"
    assert third["data"][0]["exec_type"] == "new"
    assert _fired(sim, "duplicate_next_execution") == 1


def test_send_malformed_frame(sim: Simulator, connect: Callable[..., Any]) -> None:
    client = connect(token=None)
    sim.control.wait_for(lambda s: s["connections"] == 1, timeout=5)
    assert sim.control.send_malformed_frame() == 1
    raw = client.ws.recv()
    with pytest.raises(ValueError):
        __import__("json").loads(raw)
    assert _fired(sim, "send_malformed_frame") == 1


def test_invalidate_tokens(sim: Simulator, ws: Any) -> None:
    sim.control.invalidate_tokens()
    assert ws.add()["error"] == "ESession:Invalid session"


# ------------------------------------------------------------------ behaviours


def test_ack_before_pending_new(sim: Simulator, ws: Any) -> None:
    sim.control.set_behaviour(ack_first=True)
    ws.send("add_order", {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                          "limit_price": Decimal("50000.0"), "symbol": "BTC/USD"})  # fmt: skip
    assert ws.recv()["method"] == "add_order"
    assert ws.recv()["data"][0]["exec_type"] == "pending_new"


def test_filled_on_last_trade(sim: Simulator, ws: Any) -> None:
    sim.control.set_behaviour(filled_on_last_trade=True)
    order_id = ws.add()["result"]["order_id"]
    ws.reports(2)
    sim.control.fill(order_id, qty="0.004")
    sim.control.fill(order_id)
    first, last = ws.reports(2)
    assert first["order_status"] == "partially_filled" and last["order_status"] == "filled"
    assert last["exec_type"] == "trade" and last["cum_qty"] == Decimal("0.010")
    sim.control.wait_for(lambda s: s["orders"][0]["status"] == "filled", timeout=2)
    assert ws.request("ping")["method"] == "pong"
    assert ws.backlog == []  # no separate `filled` report


def test_batch_cancel_orders_cancelled_shape(sim: Simulator, ws: Any) -> None:
    sim.control.set_behaviour(batch_cancel_shape="orders_cancelled")
    ids = [ws.add()["result"]["order_id"] for _ in range(2)]
    reply = ws.request("batch_cancel", {"orders": ids})
    assert reply["success"] is True and reply["orders_cancelled"] == 2 and "result" not in reply


def test_post_only_synchronous_refusal(sim: Simulator, ws: Any) -> None:
    sim.control.set_behaviour(post_only_refusal="sync")
    reply = ws.add(limit_price=Decimal("70000.0"), post_only=True)
    assert reply["error"] == "EOrder:Post only order"
    assert sim.exchange.state()["orders"] == []


def test_duplicated_snapshot(sim: Simulator, connect: Callable[..., Any]) -> None:
    sim.control.set_behaviour(duplicate_snapshot=True)
    client = connect()
    client.subscribe()
    again = client.channel()
    assert again["type"] == "snapshot"


def test_order_status_false_filters_transitions(connect: Callable[..., Any]) -> None:
    client = connect()
    client.subscribe(order_status=False)
    client.add()
    (report,) = client.reports(1)
    assert report["exec_type"] == "new"


def test_unknown_behaviour_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="unknown behaviour"):
        sim.control.set_behaviour(make_money=True)


def test_wait_for_times_out(sim: Simulator) -> None:
    with pytest.raises(TimeoutError):
        sim.control.wait_for(lambda s: False, timeout=0.2)
    with pytest.raises(TimeoutError):
        sim.exchange.wait_for(lambda s: False, timeout=0.2)
