"""Every WS v2 example of kraken-spot-v2.md §3-5 through its schema; requests back to the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.kraken.codec import decode, encode
from engine.kraken.control import (
    StatusMessage,
    SubscribeAck,
    build_ping,
    build_subscribe_executions,
    build_unsubscribe_executions,
    classify,
    parse_pong,
    parse_status,
)
from engine.kraken.envelope import parse_response
from engine.kraken.executions import parse_executions
from engine.kraken.trading import (
    AddOrderResult,
    AmendOrderResult,
    BatchAddEntry,
    BatchCancelResult,
    CancelAllOrdersAfterResult,
    CancelAllResult,
    CancelOrderResult,
    EditOrderResult,
    build_params,
    build_request,
    parse_params,
)

EXAMPLES = decode((Path(__file__).parent / "fixtures" / "ws_examples.json").read_text())


@pytest.mark.parametrize("name", sorted(EXAMPLES["requests"]))
def test_request_example_rebuilds_exactly(name: str) -> None:
    frame = EXAMPLES["requests"][name]
    params = dict(frame["params"])
    token = params.pop("token")
    built = build_params(frame["method"], params)
    request = build_request(frame["method"], built, frame.get("req_id"), token)
    assert request == frame
    assert decode(encode(request)) == frame  # and the same text on the wire


def test_request_examples_keep_every_digit() -> None:
    edit = EXAMPLES["requests"]["edit_order"]["params"]
    built = build_params("edit_order", {k: v for k, v in edit.items() if k != "token"})
    assert str(built["order_qty"]) == "0.2123456789"
    batch = EXAMPLES["requests"]["batch_add"]["params"]
    built = build_params("batch_add", {k: v for k, v in batch.items() if k != "token"})
    assert [str(o["limit_price"]) for o in built["orders"]] == ["1010.10", "2020.20"]
    assert built["deadline"] == "2022-06-13T08:09:10.123456Z"  # caller's text kept verbatim


@pytest.mark.parametrize("name", sorted(EXAMPLES["requests"]))
def test_request_example_parses_on_the_venue_side(name: str) -> None:
    frame = EXAMPLES["requests"][name]
    params = frame["params"]
    expected = {k: v for k, v in params.items() if k != "token"}
    assert parse_params(frame["method"], params) == expected


def test_control_request_examples() -> None:
    ex = EXAMPLES["control_requests"]
    assert build_ping(101) == ex["ping"]
    sub = ex["subscribe_executions"]
    assert build_subscribe_executions(sub["params"]["token"], 7, order_status=None) == sub
    assert build_subscribe_executions("T", 7)["params"]["order_status"] is True
    assert build_unsubscribe_executions("TOKEN", 8) == ex["unsubscribe_executions"]


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


RESPONSES = EXAMPLES["responses"]


def test_add_order_response() -> None:
    r = parse_response(RESPONSES["add_order_ok"])
    assert r.success and r.method == "add_order" and r.req_id == 123456789
    assert r.result == AddOrderResult("AA5JGQ-SBMRC-SCJ7J7", None, 100054)
    assert r.time_in == _t("2023-09-21T14:15:07.197274+00:00")
    assert r.error is None
    assert r.to_dict() == RESPONSES["add_order_ok"]


def test_error_responses() -> None:
    r = parse_response(RESPONSES["add_order_error"])
    assert not r.success and r.error == "EOrder:Insufficient funds" and r.result is None
    assert r.to_dict() == RESPONSES["add_order_error"]
    r = parse_response(RESPONSES["subscribe_invalid_session"])
    assert (r.method, r.req_id, r.error) == ("subscribe", 42, "ESession:Invalid session")
    r = parse_response(RESPONSES["add_order_unsupported_field"])
    assert r.req_id is None and r.error is not None and r.error.startswith("Unsupported field")
    r = parse_response(RESPONSES["unsubscribe_not_found"])
    assert r.error == "Subscription Not Found" and r.time_out is None


def test_success_must_be_a_literal_true() -> None:
    frame = {k: v for k, v in RESPONSES["add_order_ok"].items() if k != "success"}
    assert parse_response(frame).success is False
    assert parse_response({**frame, "success": "true"}).success is False


def test_trading_results() -> None:
    r = parse_response(RESPONSES["amend_order_ok"])
    assert r.req_id is None
    assert r.result == AmendOrderResult(
        "TTW6PD-RC36L-ZZSWNU", None, "2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"
    )
    assert parse_response(RESPONSES["edit_order_ok"]).result == EditOrderResult(
        "ORDERX-IDXXX-XXXXX2", "ORDERX-IDXXX-XXXXX1"
    )
    assert parse_response(RESPONSES["cancel_order_ok_1"]).result == CancelOrderResult(
        "OLUMT4-UTEGU-ZYM7E9"
    )
    assert parse_response(RESPONSES["cancel_order_ok_2"]).result == CancelOrderResult(
        "OM5CRX-N2HAL-GFGWE9"
    )
    assert parse_response(RESPONSES["cancel_all_ok"]).result == CancelAllResult(1)
    dms = parse_response(RESPONSES["cancel_all_orders_after_ok"])
    assert dms.result == CancelAllOrdersAfterResult(
        _t("2023-09-21T15:49:29+00:00"), _t("2023-09-21T15:51:09+00:00")
    )
    batch = parse_response(RESPONSES["batch_add_ok"])
    assert batch.result == (
        BatchAddEntry("ORDERX-IDXXX-XXXXX1", None, 1),
        BatchAddEntry("ORDERX-IDXXX-XXXXX2", None, 2),
    )
    assert batch.time_out == datetime(2022, 6, 13, 8, 9, 10, 789012, tzinfo=UTC)
    assert parse_response(RESPONSES["batch_cancel_ok"]).result == BatchCancelResult(3)
    for name in (
        "amend_order_ok",
        "edit_order_ok",
        "cancel_order_ok_1",
        "cancel_all_ok",
        "cancel_all_orders_after_ok",
        "subscribe_ack",
        "unsubscribe_ack",
        "pong",
    ):
        assert parse_response(RESPONSES[name]).to_dict() == RESPONSES[name], name


def test_batch_cancel_observed_shape_and_partial_batch_add() -> None:
    frame = {"method": "batch_cancel", "req_id": 5, "orders_cancelled": 4, "success": True}
    assert parse_response(frame).result == BatchCancelResult(4)
    frame = {
        "method": "batch_add",
        "req_id": 6,
        "success": False,
        "error": "EOrder:Insufficient funds",
        "result": [
            {"order_id": "O1", "cl_ord_id": "a", "warnings": ["w"]},
            {"cl_ord_id": "b", "error": "EOrder:Insufficient funds"},
        ],
    }
    r = parse_response(frame)
    assert not r.success
    assert r.result == (
        BatchAddEntry("O1", "a", None, None, ("w",)),
        BatchAddEntry(None, "b", None, "EOrder:Insufficient funds"),
    )


def test_dead_mans_switch_disarmed() -> None:
    for result in (
        {"currentTime": "2023-09-21T15:49:29Z", "triggerTime": "0"},
        {"currentTime": "2023-09-21T15:49:29Z"},
    ):
        frame = {"method": "cancel_all_orders_after", "result": result, "success": True}
        parsed = parse_response(frame).result
        assert isinstance(parsed, CancelAllOrdersAfterResult)
        assert parsed.trigger_time is None


def test_subscribe_acks_and_pong() -> None:
    r = parse_response(RESPONSES["subscribe_ack"])
    assert r.result == SubscribeAck("executions", 125, True, True)
    frame = {
        **RESPONSES["subscribe_ack"],
        "result": {
            "channel": "executions",
            "maxratecount": 60,
            "snapshot": True,
            "warnings": ["cancel_reason is deprecated, use reason"],
        },
    }
    r = parse_response(frame)
    assert r.result == SubscribeAck(
        "executions", 60, None, None, ("cancel_reason is deprecated, use reason",)
    )
    assert r.warnings == ("cancel_reason is deprecated, use reason",)
    assert parse_response(RESPONSES["unsubscribe_ack"]).result == SubscribeAck("executions")
    req_id, time_in, time_out = parse_pong(RESPONSES["pong"])
    assert req_id == 101 and time_in is not None and time_out is not None and time_in < time_out


def test_classify_every_example() -> None:
    kinds = {name: classify(frame) for name, frame in {**RESPONSES, **EXAMPLES["pushes"]}.items()}
    assert kinds["pong"] == "pong"
    assert kinds["subscribe_ack"] == kinds["subscribe_invalid_session"] == "subscribe"
    assert kinds["unsubscribe_not_found"] == "subscribe"  # Kraken's own mislabel, §3.2
    assert kinds["unsubscribe_ack"] == "unsubscribe"
    assert kinds["status"] == "status" and kinds["heartbeat"] == "heartbeat"
    assert {kinds[n] for n in kinds if n.startswith("executions")} == {"executions"}
    assert kinds["add_order_ok"] == kinds["batch_cancel_ok"] == "response"
    assert classify({"channel": "book"}) == classify({"foo": 1}) == "unknown"


def test_status() -> None:
    assert parse_status(EXAMPLES["pushes"]["status"]) == StatusMessage(
        "online", "v2", 13834774380200032777, "2.0.0"
    )


PUSHES = EXAMPLES["pushes"]


def test_executions_pending_new_new_trade() -> None:
    pending = parse_executions(PUSHES["executions_pending_new"])
    assert (pending.type, pending.sequence, pending.fills) == ("update", 8, ())
    (report,) = pending.reports
    assert report.order_id == "OK4GJX-KSTLS-7DZZO5" and report.exec_type == "pending_new"
    assert report.order_qty == Decimal("0.005") and report.limit_price == Decimal("26500.0")
    assert report.time_in_force == "GTC" and report.side == "sell" and report.symbol == "BTC/USD"
    assert report.timestamp == datetime(2023, 9, 22, 10, 33, 5, 709950, tzinfo=UTC)
    assert report.raw["fee_ccy_pref"] == "fciq"

    (new,) = parse_executions(PUSHES["executions_new"]).reports
    assert new.order_status == "new" and new.symbol is None and new.order_qty is None

    trade = parse_executions(PUSHES["executions_trade"])
    (report,) = trade.reports
    assert report.order_status == "partially_filled" and report.cum_qty == Decimal("0.005")
    (fill,) = trade.fills
    assert fill.exec_id == "TGBB7L-HT5LX-J3BZ4A" and fill.order_id == "OK4GJX-KSTLS-7DZZO5"
    assert fill.last_qty == Decimal("0.005") and fill.last_price == Decimal("26599.9")
    assert fill.cost == Decimal("132.9995") and fill.fee == Decimal("0.3458")
    assert fill.fee_asset == "USD" and fill.liquidity_ind == "t" and fill.trade_id == 62887576
    assert fill.side == "sell" and fill.symbol == "BTC/USD" and fill.order_userref == 3
    assert fill.source == "executions"


def test_executions_canceled_and_snapshot() -> None:
    (canceled,) = parse_executions(PUSHES["executions_canceled"]).reports
    assert canceled.reason == "User requested" and canceled.cum_qty == Decimal(0)
    snap = parse_executions(PUSHES["executions_snapshot_stop"])
    assert snap.type == "snapshot" and snap.sequence == 120
    (report,) = snap.reports
    assert report.order_type == "stop-loss-limit" and report.order_qty == Decimal("81.36256082")
    assert report.raw["triggers"]["status"] == "untriggered"


def test_filled_and_unknown_exec_types_never_book_fills() -> None:
    frame = {
        "channel": "executions",
        "type": "update",
        "data": [
            {
                "order_id": "O1",
                "exec_type": "filled",
                "order_status": "filled",
                "cum_qty": 1,
                "last_qty": 1,
                "last_price": 2,
                "exec_id": "T1",
            },
            {"order_id": "O1", "exec_type": "something_new", "order_status": "new"},
        ],
    }
    msg = parse_executions(frame)
    assert msg.sequence is None and msg.fills == ()
    assert [r.exec_type for r in msg.reports] == ["filled", "something_new"]


def test_fees_are_summed() -> None:
    frame = {
        "channel": "executions",
        "type": "update",
        "data": [
            {
                "order_id": "O1",
                "exec_type": "trade",
                "exec_id": "T1",
                "last_qty": 1,
                "last_price": Decimal("2.5"),
                "fees": [
                    {"asset": "USD", "qty": Decimal("0.1")},
                    {"asset": "USD", "qty": Decimal("0.02")},
                ],
            },
        ],
    }
    (fill,) = parse_executions(frame).fills
    assert fill.fee == Decimal("0.12") and fill.last_qty == Decimal(1)


def test_nulls_read_as_absent() -> None:
    frame = {
        "channel": "executions",
        "type": "update",
        "sequence": 3,
        "data": [{"order_id": "O1", "exec_type": "new", "order_userref": None, "reason": None}],
    }
    (report,) = parse_executions(frame).reports
    assert report.order_userref is None and report.reason is None
