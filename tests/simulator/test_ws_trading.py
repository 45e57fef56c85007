"""Every WS v2 method end to end over a raw websocket-client connection, and its errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from websocket import ABNF

from engine.simulator import Simulator

ORDER_ID = re.compile(r"^O[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")
TRADE_ID = re.compile(r"^T[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")
RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _deadline(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_status_frame_ping_and_protocol_pings(connect: Callable[..., Any]) -> None:
    ws = connect(token=None)
    status = ws.status
    assert status["channel"] == "status" and status["type"] == "update"
    data = status["data"][0]
    assert data["system"] == "online" and data["api_version"] == "v2"
    assert data["connection_id"] > 2**63
    pong = ws.request("ping", req_id=101)
    assert pong["method"] == "pong" and pong["req_id"] == 101
    assert RFC3339_US.match(pong["time_in"]) and RFC3339_US.match(pong["time_out"])
    ws.ws.ping(b"hello")
    opcode, frame = ws.ws.recv_data_frame(control_frame=True)
    assert opcode == ABNF.OPCODE_PONG and frame.data == b"hello"


def test_fragmented_text_message_with_interleaved_ping(connect: Callable[..., Any]) -> None:
    ws = connect(token=None)
    text = b'{"method":"ping","req_id":7}'
    ws.ws.send_frame(ABNF.create_frame(text[:10], ABNF.OPCODE_TEXT, fin=0))
    ws.ws.send_frame(ABNF.create_frame(b"mid", ABNF.OPCODE_PING, fin=1))
    ws.ws.send_frame(ABNF.create_frame(text[10:20], ABNF.OPCODE_CONT, fin=0))
    ws.ws.send_frame(ABNF.create_frame(text[20:], ABNF.OPCODE_CONT, fin=1))
    opcode, frame = ws.ws.recv_data_frame(control_frame=True)
    assert opcode == ABNF.OPCODE_PONG and frame.data == b"mid"
    assert ws.response()["req_id"] == 7


def test_subscribe_snapshot_then_sequenced_updates(
    connect: Callable[..., Any], sim: Simulator
) -> None:
    first = connect()
    first.subscribe()
    placed = first.add(cl_ord_id="snap-1", order_userref=None)
    assert placed["success"], placed
    first.reports(2)
    sim.control.fill(placed["result"]["order_id"], qty="0.004")
    first.reports(1)

    ws = connect()
    ack, snapshot = ws.subscribe(snap_orders=True, snap_trades=True)
    assert ack["result"] == {
        "channel": "executions",
        "maxratecount": 1_000_000_000,
        "snap_orders": True,
        "snap_trades": True,
    }
    assert snapshot["type"] == "snapshot"
    orders = [r for r in snapshot["data"] if "exec_id" not in r]
    trades = [r for r in snapshot["data"] if "exec_id" in r]
    assert len(orders) == 1 and len(trades) == 1
    order = orders[0]
    assert order["order_id"] == placed["result"]["order_id"]
    assert order["order_status"] == "partially_filled"
    assert order["cum_qty"] == Decimal("0.004") and order["order_qty"] == Decimal("0.01")
    assert order["limit_price"] == Decimal("50000.0") and order["time_in_force"] == "GTC"
    assert trades[0]["last_qty"] == Decimal("0.004")
    seq = snapshot["sequence"]
    ws.add()
    updates = [ws.channel(), ws.channel()]
    assert [u["sequence"] for u in updates] == [seq + 1, seq + 2]
    assert [u["data"][0]["exec_type"] for u in updates] == ["pending_new", "new"]
    assert ws.request("subscribe", {"channel": "executions"})["error"] == "Already subscribed"
    unsub = ws.request("unsubscribe", {"channel": "executions"})
    assert unsub["success"] and unsub["result"] == {"channel": "executions"}
    again = ws.request("unsubscribe", {"channel": "executions"})
    assert again["error"] == "Subscription Not Found" and again["method"] == "subscribe"


def test_add_order_reports_and_fill_as_trade_then_filled(ws: Any, sim: Simulator) -> None:
    reply = ws.add(order_userref=42)
    assert reply["success"] is True and reply["method"] == "add_order"
    order_id = reply["result"]["order_id"]
    assert ORDER_ID.match(order_id) and reply["result"]["order_userref"] == 42
    pending, new = ws.reports(2)
    assert pending["exec_type"] == "pending_new" and pending["order_status"] == "pending_new"
    for key in ("symbol", "side", "order_type", "order_qty", "limit_price", "time_in_force",
                "fee_ccy_pref", "limit_price_type", "timestamp"):  # fmt: skip
        assert key in pending
    assert pending["time_in_force"] == "GTC" and pending["fee_ccy_pref"] == "fciq"
    assert new == {
        "order_id": order_id,
        "exec_type": "new",
        "order_status": "new",
        "order_userref": 42,
        "timestamp": new["timestamp"],
    }
    sim.control.fill(order_id)
    trade, filled = ws.reports(2)
    assert trade["exec_type"] == "trade" and trade["order_status"] == "partially_filled"
    assert TRADE_ID.match(trade["exec_id"]) and isinstance(trade["trade_id"], int)
    assert trade["last_qty"] == Decimal("0.01") and trade["last_price"] == Decimal("50000.0")
    assert trade["cost"] == Decimal("500.000") and trade["liquidity_ind"] == "m"
    assert trade["fees"] == [{"asset": "USD", "qty": Decimal("0.80000")}]
    assert trade["cum_qty"] == Decimal("0.01") and trade["avg_price"] == Decimal("50000.0")
    assert filled["exec_type"] == "filled" and filled["order_status"] == "filled"
    state = sim.exchange.state()
    assert state["orders"][0]["status"] == "filled"
    assert state["trades"][0]["fee"] == Decimal("0.80000")


def test_market_order_fills_at_reference_price_as_taker(ws: Any, sim: Simulator) -> None:
    sim.control.set_reference_price("ETH/USD", "2500.55")
    reply = ws.request("add_order", {"order_type": "market", "side": "sell",
                                     "order_qty": Decimal("0.5"), "symbol": "ETH/USD"})  # fmt: skip
    assert reply["success"], reply
    pending, trade, filled = ws.reports(3)
    assert pending["exec_type"] == "pending_new" and "limit_price" not in pending
    assert trade["liquidity_ind"] == "t" and trade["last_price"] == Decimal("2500.55")
    assert trade["fees"][0]["qty"] == Decimal("3.25072")  # 1250.275 * 0.0026, 5 decimals
    assert filled["exec_type"] == "filled"


def test_amend_keeps_ids_and_reports_amended(ws: Any) -> None:
    reply = ws.add(cl_ord_id="6d1b345e-2821-40e2-ad83-4ecb18a06876")
    order_id = reply["result"]["order_id"]
    ws.reports(2)
    amend = ws.request("amend_order", {"cl_ord_id": "6d1b345e-2821-40e2-ad83-4ecb18a06876",
                                       "limit_price": Decimal("49000.5"),
                                       "order_qty": Decimal("0.02")})  # fmt: skip
    assert amend["success"], amend
    assert TRADE_ID.match(amend["result"]["amend_id"])
    assert amend["result"]["cl_ord_id"] == "6d1b345e-2821-40e2-ad83-4ecb18a06876"
    (amended,) = ws.reports(1)
    assert amended["exec_type"] == "amended" and amended["amended"] is True
    assert amended["order_id"] == order_id and amended["limit_price"] == Decimal("49000.5")
    assert amended["order_qty"] == Decimal("0.02")
    missing = ws.request("amend_order", {"order_id": "OAAAAA-BBBBB-CCCCCC", "order_qty": 1})
    assert missing["error"] == "EOrder:Invalid order"


def test_edit_order_replaces_with_new_id(ws: Any, sim: Simulator) -> None:
    order_id = ws.add()["result"]["order_id"]
    ws.reports(2)
    edit = ws.request("edit_order", {"order_id": order_id, "symbol": "BTC/USD",
                                     "order_qty": Decimal("0.02")})  # fmt: skip
    assert edit["success"], edit
    assert edit["result"]["original_order_id"] == order_id
    new_id = edit["result"]["order_id"]
    assert new_id != order_id and ORDER_ID.match(new_id)
    canceled, pending, new = ws.reports(3)
    assert (canceled["order_id"], canceled["exec_type"]) == (order_id, "canceled")
    assert (pending["order_id"], pending["exec_type"]) == (new_id, "pending_new")
    assert new["exec_type"] == "new"
    bad = ws.request("edit_order", {"order_id": new_id, "symbol": "BTC/USD", "cl_ord_id": "x"})
    assert bad["error"] == "Unsupported field: 'cl_ord_id' for the given msg type: edit order"
    assert sim.exchange.order(new_id).spec.order_qty == Decimal("0.02")  # type: ignore[union-attr]


def test_cancel_order_one_frame_per_id_and_unknown(ws: Any) -> None:
    ids = [ws.add()["result"]["order_id"] for _ in range(2)]
    ws.reports(4)
    ws.send("cancel_order", {"order_id": [*ids, "OAAAAA-BBBBB-CCCCCC"]}, req_id=55)
    frames = [ws.response("cancel_order") for _ in range(3)]
    assert all(f["req_id"] == 55 for f in frames)
    assert [f["result"]["order_id"] for f in frames[:2]] == ids
    assert frames[2]["success"] is False and frames[2]["error"] == "EOrder:Invalid order"
    reports = ws.reports(2)
    assert all(r["exec_type"] == "canceled" and r["reason"] == "User requested" for r in reports)
    again = ws.request("cancel_order", {"order_id": ids[:1]})
    assert again["error"] == "EOrder:Invalid order"  # closed orders cannot be canceled


def test_cancel_by_cl_ord_id_and_userref(ws: Any) -> None:
    ws.add(cl_ord_id="arb-20240509-00010")
    ws.add(order_userref=7)
    ws.add(order_userref=7)
    ws.reports(6)
    by_cl = ws.request("cancel_order", {"cl_ord_id": ["arb-20240509-00010"]})
    assert by_cl["success"] and by_cl["result"]["cl_ord_id"] == "arb-20240509-00010"
    ws.send("cancel_order", {"order_userref": [7]})
    assert [ws.response("cancel_order")["success"] for _ in range(2)] == [True, True]


def test_cancel_all_and_batch_methods(ws: Any, sim: Simulator) -> None:
    batch = ws.request("batch_add", {"symbol": "BTC/USD", "orders": [
        {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
         "limit_price": Decimal("40000.0"), "order_userref": 1},
        {"order_type": "limit", "side": "sell", "order_qty": Decimal("0.02"),
         "limit_price": Decimal("70000.0"), "cl_ord_id": "row-2"},
    ]})  # fmt: skip
    assert batch["success"], batch
    rows = batch["result"]
    assert rows[0]["order_userref"] == 1 and rows[1]["cl_ord_id"] == "row-2"
    ws.reports(4)
    cancel = ws.request("batch_cancel", {"orders": [rows[0]["order_id"]], "cl_ord_id": ["row-2"]})
    assert cancel["success"] and cancel["result"] == {"count": 2}
    ws.reports(2)
    for _ in range(3):
        ws.add()
    ws.reports(6)
    result = ws.request("cancel_all")
    assert result["result"] == {"count": 3}
    assert len(ws.reports(3)) == 3
    assert all(o["status"] == "canceled" for o in sim.exchange.state()["orders"])


def test_batch_size_limits(ws: Any) -> None:
    one = ws.request("batch_add", {"symbol": "BTC/USD", "orders": [
        {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
         "limit_price": Decimal("40000.0")}]})  # fmt: skip
    assert one["error"] == "EGeneral:Invalid arguments:orders"
    sixteen = [{"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                "limit_price": Decimal("40000.0")}] * 16  # fmt: skip
    assert ws.request("batch_add", {"symbol": "BTC/USD", "orders": sixteen})["success"] is False
    solo = ws.request("batch_cancel", {"orders": ["OAAAAA-BBBBB-CCCCCC"]})
    assert solo["error"] == "EGeneral:Invalid arguments:orders"
    too_many = ws.request("batch_cancel", {"orders": ["OAAAAA-BBBBB-CCCCCC"] * 51})
    assert too_many["error"] == "EGeneral:Invalid arguments:orders"
    bad_row = ws.request("batch_add", {"symbol": "BTC/USD", "orders": [
        {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
         "limit_price": Decimal("40000.0")},
        {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
         "limit_price": Decimal("40000.05")}]})  # fmt: skip
    assert bad_row["error"] == "EOrder:Tick size check failed"


def test_cancel_all_orders_after_arms_and_disarms(ws: Any, sim: Simulator) -> None:
    armed = ws.request("cancel_all_orders_after", {"timeout": 60})
    result = armed["result"]
    assert set(result) == {"currentTime", "triggerTime"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", result["triggerTime"])
    dms = sim.exchange.state()["dead_mans_switch"][sim.api_key]
    assert dms["armed"] is True and dms["last_timeout"] == 60 and dms["arm_count"] == 1
    disarmed = ws.request("cancel_all_orders_after", {"timeout": 0})
    assert disarmed["result"]["triggerTime"] == "0"
    assert sim.exchange.state()["dead_mans_switch"][sim.api_key]["armed"] is False
    bad = ws.request("cancel_all_orders_after", {"timeout": 86400})
    assert bad["error"] == "EGeneral:Invalid arguments:timeout"


def test_validate_places_nothing(ws: Any, sim: Simulator) -> None:
    reply = ws.add(validate=True, cl_ord_id="check-only")
    assert reply["success"] and reply["result"]["order_id"] == ""
    assert reply["result"]["cl_ord_id"] == "check-only"
    assert sim.exchange.state()["orders"] == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"price": Decimal(1)}, "Unsupported field: 'price' for the given msg type: add order"),
        ({"cl_ord_id": "a", "order_userref": 1}, "EGeneral:Invalid arguments:cl_ord_id"),
        ({"cl_ord_id": "this-is-way-too-long-for-kraken"}, "EGeneral:Invalid arguments:cl_ord_id"),
        ({"cl_ord_id": "6d1b345e-2821-40e2-ad83-4ecb18a0687"},
         "EGeneral:Invalid arguments:cl_ord_id"),
        ({"limit_price": None}, "EGeneral:Invalid arguments:limit_price"),
        ({"limit_price": Decimal("50000.05")}, "EOrder:Tick size check failed"),
        ({"order_qty": Decimal("0.00001")}, "EOrder:Order minimum not met"),
        ({"order_qty": Decimal("0.000050001")}, "EGeneral:Invalid arguments:order_qty"),
        ({"order_qty": Decimal("0.00005"), "limit_price": Decimal("100.0")},
         "EOrder:Cost minimum not met"),
        ({"order_type": "stop-loss"}, "EGeneral:Invalid arguments:limit_price"),
        ({"order_type": "stop-loss-limit"}, "EGeneral:Invalid arguments:triggers"),
        ({"side": "short"}, "EGeneral:Invalid arguments:side"),
        ({"order_qty": "0.01"}, "EGeneral:Invalid arguments:order_qty"),
        ({"symbol": "DOGE/XYZ"}, "EQuery:Unknown asset pair"),
        ({"deadline": -1}, "EService:Deadline elapsed"),
        ({"deadline": 120}, "EGeneral:Invalid arguments:deadline"),
        ({"time_in_force": "gtd"}, "EGeneral:Invalid arguments:expire_time"),
    ],
)  # fmt: skip
def test_add_order_refusals(ws: Any, params: dict[str, Any], error: str) -> None:
    if "deadline" in params:  # an offset from now, stamped when sent
        params = {"deadline": _deadline(params["deadline"])}
    reply = ws.add(**params)
    assert reply["success"] is False and reply["error"] == error
    assert "time_in" in reply and "time_out" in reply
    if error.startswith("Unsupported field"):
        assert "req_id" not in reply  # Kraken omits it on schema errors
    else:
        assert reply["req_id"] == ws._req_id


def test_trigger_order_rests_untriggered(ws: Any) -> None:
    reply = ws.add(order_type="stop-loss-limit", limit_price=Decimal("40000.0"),
                   triggers={"price": Decimal("41000.0")})  # fmt: skip
    assert reply["success"], reply
    pending, new = ws.reports(2)
    assert pending["triggers"]["status"] == "untriggered"
    assert pending["triggers"]["price"] == Decimal("41000.0")
    assert new["order_status"] == "new"


def test_post_only_crossing_is_canceled(ws: Any) -> None:
    reply = ws.add(limit_price=Decimal("70000.0"), post_only=True)
    assert reply["success"]
    _pending, canceled = ws.reports(2)
    assert canceled["exec_type"] == "canceled" and canceled["reason"] == "Post only order"


def test_token_errors(connect: Callable[..., Any], sim: Simulator) -> None:
    ws = connect(token="not-a-token")
    reply = ws.add()
    assert reply["success"] is False and reply["error"] == "ESession:Invalid session"
    sub = ws.request("subscribe", {"channel": "executions"})
    assert sub["error"] == "ESession:Invalid session"
    missing = ws.request("cancel_all", token=False)
    assert missing["error"] == "ESession:Invalid session"
    sim.control.set_behaviour(token_error="EAPI:Invalid token")
    assert ws.add()["error"] == "EAPI:Invalid token"


def test_unknown_method_and_malformed_json(connect: Callable[..., Any]) -> None:
    ws = connect(token=None)
    assert ws.request("fly_to_moon")["error"] == "Unsupported event"
    ws.ws.send("{not json")
    assert ws.recv()["success"] is False


def test_two_accounts_are_isolated(
    sim: Simulator, connect: Callable[..., Any], rest_for: Callable[..., Any]
) -> None:
    key_b, secret_b = sim.add_account()
    rest_b = rest_for(key_b, secret_b)
    ws_a = connect()
    ws_a.subscribe()
    ws_b = connect(token=rest_b.token())
    ws_b.subscribe()
    order_b = ws_b.add()["result"]["order_id"]
    ws_b.reports(2)
    assert ws_a.request("cancel_order", {"order_id": [order_b]})["error"] == "EOrder:Invalid order"
    ws_a.request("cancel_all_orders_after", {"timeout": 30})
    dms = sim.exchange.state()["dead_mans_switch"]
    assert dms[sim.api_key]["armed"] and not dms[key_b]["armed"]
    assert list(rest_b.result("OpenOrders")["open"]) == [order_b]
    assert ws_a.backlog == []
