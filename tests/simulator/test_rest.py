"""REST over raw signed `requests` calls: auth, bodies, booleans, queries and pagination."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from engine.kraken.signing import kraken_sign
from engine.simulator import Simulator

KRAKEN_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)


def test_kraken_published_vector_is_accepted(sim: Simulator) -> None:
    """The byte-exact request from Kraken's signing guide authenticates (then trades)."""
    sim.add_account("vector-key", KRAKEN_SECRET)
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    reply = requests.post(
        sim.rest_url + "/0/private/AddOrder",
        data=body,
        headers={
            "API-Key": "vector-key",
            "API-Sign": kraken_sign("/0/private/AddOrder", 1616492376594, body, KRAKEN_SECRET),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    ).json()
    assert reply["error"] == []
    assert reply["result"]["descr"]["order"] == "buy 1.25000000 XBTUSD @ limit 37500.0"
    assert assert_txid(reply["result"]["txid"])
    assert kraken_sign("/0/private/AddOrder", 1616492376594, body, KRAKEN_SECRET).startswith("4/dp")


def assert_txid(txids: Any) -> bool:
    return isinstance(txids, list) and len(txids) == 1 and txids[0].startswith("O")


def test_auth_errors(rest: Any, sim: Simulator) -> None:
    assert rest.call("OpenOrders", api_key="nobody")["error"] == ["EAPI:Invalid key"]
    other_secret = sim.add_account("other")[1]
    assert rest.call("OpenOrders", secret=other_secret)["error"] == ["EAPI:Invalid signature"]
    nonce = rest.next_nonce()
    assert rest.call("OpenOrders", nonce=nonce)["error"] == []
    assert rest.call("OpenOrders", nonce=nonce)["error"] == ["EAPI:Invalid nonce"]
    assert rest.call("OpenOrders", nonce=nonce - 5)["error"] == ["EAPI:Invalid nonce"]
    assert rest.call("OpenOrders")["error"] == []
    assert rest.call("NoSuchThing")["error"] == ["EGeneral:Unknown method"]


def test_json_and_form_bodies_and_boolean_spellings(rest: Any) -> None:
    for as_json in (False, True):
        assert rest.result("OpenOrders", {"trades": True}, as_json=as_json) == {"open": {}}
    for spelling in ("true", "True", "false", "False"):
        assert rest.call("OpenOrders", {"trades": spelling})["error"] == []
    assert rest.call("OpenOrders", {"trades": "yes"})["error"] == [
        "EGeneral:Invalid arguments:trades"
    ]
    # JSON body with typed values, the signature over the exact JSON text
    placed = rest.result("AddOrder", {"ordertype": "limit", "type": "sell", "pair": "XXBTZUSD",
                                       "volume": "0.5", "price": "70000.0",
                                       "validate": False}, as_json=True)  # fmt: skip
    assert assert_txid(placed["txid"])


def test_add_query_cancel_order_rest(rest: Any, sim: Simulator) -> None:
    placed = rest.result("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "XBTUSD",
                                      "volume": "0.01", "price": "50000.0", "cl_ord_id": "r-1",
                                      "oflags": "post", "validate": "False"})  # fmt: skip
    txid = placed["txid"][0]
    opened = rest.result("OpenOrders", {"trades": "true", "cl_ord_id": "r-1"})["open"]
    order = opened[txid]
    assert order["status"] == "open" and order["cl_ord_id"] == "r-1" and order["userref"] == 0
    assert order["descr"]["pair"] == "XBTUSD" and order["descr"]["price"] == "50000.0"
    assert order["vol"] == "0.01000000" and order["vol_exec"] == "0.00000000"
    assert order["oflags"] == "post,fciq"
    assert isinstance(order["opentm"], Decimal)
    validate = rest.result("AddOrder", {"ordertype": "market", "type": "buy", "pair": "XBTUSD",
                                        "volume": "0.01", "validate": "true"})  # fmt: skip
    assert "txid" not in validate and validate["descr"]["order"].endswith("@ market")
    assert rest.result("CancelOrder", {"txid": txid}) == {"count": 1, "pending": False}
    assert rest.call("CancelOrder", {"txid": txid})["error"] == ["EOrder:Unknown order"]
    queried = rest.result("QueryOrders", {"txid": txid, "trades": "true"})
    assert queried[txid]["status"] == "canceled" and queried[txid]["reason"] == "User requested"
    assert "closetm" in queried[txid]
    assert rest.call("QueryOrders", {"txid": ",".join([txid] * 51)})["error"] == [
        "EGeneral:Invalid arguments:txid"
    ]
    assert rest.call("QueryOrders", {"txid": "OAAAAA-BBBBB-CCCCCC"})["error"] == [
        "EOrder:Invalid order"
    ]


def test_token_cancel_all_and_dead_mans_switch_rest(rest: Any, sim: Simulator) -> None:
    token = rest.result("GetWebSocketsToken")
    assert token["expires"] == 900 and len(token["token"]) > 20
    for price in ("40000.0", "41000.0"):
        rest.result("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "XXBTZUSD",
                                 "volume": "0.01", "price": price})  # fmt: skip
    armed = rest.result("CancelAllOrdersAfter", {"timeout": 60})
    assert armed["triggerTime"] != "0"
    assert rest.result("CancelAllOrdersAfter", {"timeout": 0})["triggerTime"] == "0"
    assert sim.exchange.state()["dead_mans_switch"][sim.api_key]["arm_count"] == 1
    assert rest.result("CancelAll") == {"count": 2}


def _fill_many(sim: Simulator, rest: Any, n: int) -> list[str]:
    ids = []
    for i in range(n):
        placed = rest.result("AddOrder", {"ordertype": "limit", "type": "buy", "pair": "SOLUSD",
                                          "volume": "1", "price": "100.00",
                                          "userref": i % 3})  # fmt: skip
        ids.append(placed["txid"][0])
        sim.exchange.fill(ids[-1])
    return ids


def test_closed_orders_and_trades_history_pagination(rest: Any, sim: Simulator) -> None:
    ids = _fill_many(sim, rest, 120)
    pages = []
    for ofs in (0, 50, 100):
        page = rest.result("ClosedOrders", {"ofs": ofs, "trades": "true"})
        assert page["count"] == 120
        pages.append(list(page["closed"]))
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [x for p in pages for x in p] == list(reversed(ids))  # most recent first
    closed = rest.result("ClosedOrders")["closed"][ids[-1]]
    assert closed["status"] == "closed" and closed["vol_exec"] == "1.00000000"
    assert closed["price"] == "100.00" and closed["cost"] == "100.00000"
    assert closed["fee"] == "0.16000"
    filtered = rest.result("ClosedOrders", {"userref": 1})
    assert filtered["count"] == 40
    since = rest.result("ClosedOrders", {"start": ids[109], "closetime": "open"})
    assert since["count"] == 10

    trades = rest.result("TradesHistory", {"ofs": 100, "consolidate_taker": "false"})
    assert trades["count"] == 120 and len(trades["trades"]) == 20
    first_page = rest.result("TradesHistory")["trades"]
    txid, trade = next(iter(first_page.items()))
    assert trade["ordertxid"] == ids[-1] and trade["pair"] == "SOLUSD" and trade["maker"] is True
    assert set(trade) >= {"ordertxid", "postxid", "pair", "time", "type", "ordertype", "price",
                          "cost", "fee", "vol", "margin", "misc", "trade_id", "maker"}  # fmt: skip
    queried = rest.result("QueryTrades", {"txid": txid})
    assert queried[txid]["vol"] == "1.00000000"
    too_many = ",".join(list(first_page)[:21])
    assert rest.call("QueryTrades", {"txid": too_many})["error"] == [
        "EGeneral:Invalid arguments:txid"
    ]


def test_public_endpoints(rest: Any) -> None:
    pairs = rest.public("AssetPairs")["result"]
    btc = pairs["XXBTZUSD"]
    assert btc["altname"] == "XBTUSD" and btc["wsname"] == "XBT/USD"
    assert (btc["base"], btc["quote"]) == ("XXBT", "ZUSD")
    assert btc["tick_size"] == "0.1" and btc["ordermin"] == "0.00005" and btc["costmin"] == "0.5"
    assert btc["pair_decimals"] == 1 and btc["lot_decimals"] == 8 and btc["status"] == "online"
    assert {"XETHZUSD", "SOLUSD"} <= set(pairs)
    assert list(rest.public("AssetPairs", pair="XBTUSD,ETH/USD")["result"]) == [
        "XXBTZUSD",
        "XETHZUSD",
    ]
    assert rest.public("AssetPairs", pair="NOPE")["error"] == ["EQuery:Unknown asset pair"]
    assert rest.public("SystemStatus")["result"]["status"] == "online"
    assert isinstance(rest.public("Time")["result"]["unixtime"], int)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"pair": "NOPE"}, "EQuery:Unknown asset pair"),
        ({"price": "50000.05"}, "EOrder:Tick size check failed"),
        ({"volume": "0.00001"}, "EOrder:Order minimum not met"),
        ({"ordertype": "limit", "price": None}, "EGeneral:Invalid arguments:price"),
        ({"userref": "5", "cl_ord_id": "x"}, "EGeneral:Invalid arguments:cl_ord_id"),
    ],
)
def test_add_order_rest_refusals(rest: Any, params: dict[str, Any], error: str) -> None:
    body = {"ordertype": "limit", "type": "buy", "pair": "XBTUSD", "volume": "0.01",
            "price": "50000.0", **params}  # fmt: skip
    body = {k: v for k, v in body.items() if v is not None}
    assert rest.call("AddOrder", body)["error"] == [error]
