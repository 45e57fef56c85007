"""REST: the published signing vector, the §7 examples, envelopes and token redaction."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from engine.errors import LocalRejection, RateLimitExceeded, VenueProtocolError, VenueRejection
from engine.kraken.codec import decode
from engine.kraken.pairs import PairMap
from engine.kraken.rest import (
    build_private_request,
    encode_form,
    epoch_to_datetime,
    parse_cancel_all,
    parse_cancel_all_orders_after,
    parse_closed_orders,
    parse_open_orders,
    parse_query_orders,
    parse_query_trades,
    parse_rest_envelope,
    parse_trades_history,
    parse_websockets_token,
)

REST = decode((Path(__file__).parent / "fixtures" / "rest_examples.json").read_text())
SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
PAIRS = PairMap.from_asset_pairs(parse_rest_envelope(REST["asset_pairs"], "AssetPairs"))


def test_published_signing_vector() -> None:
    request = build_private_request(
        "AddOrder",
        {
            "ordertype": "limit",
            "pair": "XBTUSD",
            "price": 37500,
            "type": "buy",
            "volume": Decimal("1.25"),
        },
        nonce=1616492376594,
        api_key="KEY",
        api_secret=SECRET,
    )
    assert request.path == "/0/private/AddOrder"
    assert request.body == (
        "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    )
    assert request.headers == {
        "API-Key": "KEY",
        "API-Sign": "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmb"
        "Rn6H8ndwLUQ==",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert "KEY" not in repr(request)


def test_krakenfx_golden_vector() -> None:
    request = build_private_request(
        "Balance",
        {},
        nonce=1700000000000000000,
        api_key="k",
        api_secret="AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    )
    assert request.body == "nonce=1700000000000000000"
    assert request.headers["API-Sign"] == (
        "6i7+cpXVLDDnDOekgsRcgFQhkYFyPDSSxhSVA8OrA6vjziXcy2K1DP3n7f9B/Kgni71WjBSQusZKxduRsdF20Q=="
    )


def test_form_values() -> None:
    body = encode_form(
        5,
        {
            "trades": True,
            "without_count": False,
            "txid": ["OA", "OB"],
            "volume": Decimal("0.000000012345678901"),
            "start": None,
            "close[ordertype]": "limit",
        },
    )
    assert parse_qsl(body) == [
        ("nonce", "5"),
        ("trades", "true"),
        ("without_count", "false"),
        ("txid", "OA,OB"),
        ("volume", "0.000000012345678901"),
        ("close[ordertype]", "limit"),
    ]
    with pytest.raises(LocalRejection) as info:
        encode_form(5, {"volume": 1.25})
    assert info.value.field == "volume"
    with pytest.raises(LocalRejection):
        encode_form(5, {"nonce": 6})
    with pytest.raises(LocalRejection):
        build_private_request("../x", {}, nonce=1, api_key="k", api_secret=SECRET)


def test_envelope_errors() -> None:
    with pytest.raises(VenueRejection) as info:
        parse_rest_envelope(REST["permission_denied"], "GetWebSocketsToken")
    assert info.value.error == "EGeneral:Permission denied"
    assert (info.value.method, info.value.req_id) == ("GetWebSocketsToken", None)
    with pytest.raises(VenueRejection, match="Invalid nonce"):
        parse_rest_envelope(REST["invalid_nonce"], "OpenOrders")
    with pytest.raises(RateLimitExceeded):
        parse_rest_envelope({"error": ["EAPI:Rate limit exceeded"]}, "TradesHistory")
    body = {"error": ["WGeneral:Deprecated", "EOrder:Unknown order", "EGeneral:Other"]}
    with pytest.raises(VenueRejection) as info:
        parse_rest_envelope(body, "CancelOrder")
    assert info.value.error == "EOrder:Unknown order; EGeneral:Other"
    assert parse_rest_envelope({"error": ["WGeneral:Deprecated"], "result": {"count": 1}}, "X") == {
        "count": 1
    }
    for bad in ([], {"error": []}, {"error": 5}):
        with pytest.raises(VenueProtocolError):
            parse_rest_envelope(bad, "X")


def test_websockets_token_is_never_shown() -> None:
    token = parse_websockets_token(parse_rest_envelope(REST["token_ok"], "GetWebSocketsToken"))
    assert token.token == "1Dwc4lzSwNWOAwkMdqhssNNFhs1ed606d1WcF3XfEMw" and token.expires == 900
    assert token.token not in repr(token) and token.token not in str(token)


def test_open_orders() -> None:
    (report,) = parse_open_orders(parse_rest_envelope(REST["open_orders"], "OpenOrders"), PAIRS)
    assert report.order_id == "OQCLML-BW3P3-BUCMWZ"
    assert report.order_status == "partially_filled"
    assert report.symbol == "BTC/USD" and report.side == "buy" and report.order_type == "limit"
    assert report.order_qty == Decimal("1.25000000") and str(report.order_qty) == "1.25000000"
    assert report.cum_qty == Decimal("0.375") and report.cum_cost == Decimal("11253.7")
    assert report.limit_price == Decimal("30010.0") and report.avg_price == Decimal("30010.0")
    assert report.order_userref == 0 and report.source == "reconciliation"
    assert report.timestamp == datetime(2023, 7, 6, 18, 2, 39, 897400, tzinfo=UTC)
    assert report.post_only is False and report.exec_type is None
    assert report.raw["trades"] == ["TCCCTY-WE2O6-P3NB37"]
    (without_map,) = parse_open_orders(REST["open_orders"]["result"])
    assert without_map.symbol is None


def test_open_order_without_fills_is_new() -> None:
    result = REST["open_orders"]["result"]
    order = {**result["open"]["OQCLML-BW3P3-BUCMWZ"], "vol_exec": "0.00000000", "price": "0"}
    (report,) = parse_open_orders({"open": {"O1": order}})
    assert report.order_status == "new" and report.avg_price is None


def test_closed_orders() -> None:
    reports, count = parse_closed_orders(REST["closed_orders"]["result"], PAIRS)
    assert count == 2
    (report,) = reports
    assert report.order_status == "canceled" and report.reason == "User requested"
    assert report.symbol == "BTC/GBP" and report.order_type == "stop-loss-limit"
    assert report.order_userref == 1 and report.cum_qty == Decimal(0)
    assert report.limit_price is None  # descr.price is the trigger here; price2 is "0"
    assert report.timestamp == datetime(2023, 6, 30, 18, 10, 10, 48200, tzinfo=UTC)


def test_query_orders() -> None:
    (report,) = parse_query_orders(REST["query_orders"]["result"], PAIRS)
    assert report.order_id == "OMMDB2-FSB6Z-7W3HPO" and report.order_status == "filled"
    assert report.order_type == "market" and report.limit_price is None
    assert report.avg_price == Decimal("30000.0") and report.cum_qty == Decimal("0.25")
    assert report.reason is None and report.side == "sell"


def test_trades_history_and_query_trades() -> None:
    fills, count = parse_trades_history(REST["trades_history"]["result"], PAIRS)
    assert count == 2
    (fill,) = fills
    assert fill.exec_id == "THVRQM-33VKH-UCI7BS" and fill.order_id == "OQCLML-BW3P3-BUCMWZ"
    assert fill.last_qty == Decimal("0.02000000") and fill.last_price == Decimal("30010.00000")
    assert fill.cost == Decimal("600.2") and fill.fee == Decimal(0)
    assert fill.liquidity_ind == "m" and fill.trade_id == 40274859
    assert fill.symbol == "BTC/USD" and fill.fee_asset == "USD" and fill.side == "buy"
    assert fill.source == "reconciliation"
    assert fill.timestamp == datetime(2023, 7, 6, 18, 23, 16, 880200, tzinfo=UTC)
    (again,) = parse_query_trades(REST["trades_history"]["result"]["trades"], PAIRS)
    assert again == fill


def test_cancel_all_and_dead_mans_switch() -> None:
    assert parse_cancel_all(REST["cancel_all"]["result"]) == 4
    dms = parse_cancel_all_orders_after(REST["cancel_all_orders_after"]["result"])
    assert dms.current_time == datetime(2023, 3, 24, 17, 41, 56, tzinfo=UTC)
    assert dms.trigger_time == datetime(2023, 3, 24, 17, 42, 56, tzinfo=UTC)
    disarmed = parse_cancel_all_orders_after(
        {"currentTime": "2023-03-24T17:41:56Z", "triggerTime": "0"}
    )
    assert disarmed.trigger_time is None


def test_epoch_times_are_exact() -> None:
    assert epoch_to_datetime(Decimal("1688667796.8802")) == datetime(
        2023, 7, 6, 18, 23, 16, 880200, tzinfo=UTC
    )
    assert epoch_to_datetime(1688667796.8802) == epoch_to_datetime("1688667796.8802")
    assert epoch_to_datetime(0) is None
    with pytest.raises(VenueProtocolError):
        epoch_to_datetime("soon")


def test_unreadable_rest_order() -> None:
    with pytest.raises(VenueProtocolError):
        parse_query_orders({"O1": {"vol": "lots"}})
    with pytest.raises(VenueProtocolError):
        parse_trades_history({"count": 1, "trades": {"T1": {"ordertxid": "O1"}}})
