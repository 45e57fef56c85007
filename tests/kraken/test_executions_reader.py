"""The executions reader's shortcut gives exactly the schema's answer, or the schema's error."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.errors import VenueProtocolError
from engine.kraken import executions
from engine.kraken.codec import decode
from engine.kraken.envelope import load_inbound

PUSHES = decode((Path(__file__).parent / "fixtures" / "ws_examples.json").read_text())["pushes"]

TRADE: dict[str, Any] = {
    "order_id": "OK4GJX-KSTLS-7DZZO5",
    "cl_ord_id": "c-1",
    "order_userref": 3,
    "exec_id": "TGBB7L-HT5LX-J3BZ4A",
    "exec_type": "trade",
    "trade_id": 62887576,
    "symbol": "BTC/USD",
    "side": "sell",
    "order_type": "limit",
    "order_qty": Decimal("0.005"),
    "limit_price": Decimal("26500.0"),
    "last_qty": Decimal("0.005"),
    "last_price": Decimal("26599.9"),
    "cost": Decimal("132.9995"),
    "liquidity_ind": "t",
    "order_status": "partially_filled",
    "cum_qty": 1,
    "cum_cost": Decimal("132.9995"),
    "avg_price": Decimal("26599.9"),
    "fees": [{"asset": "USD", "qty": Decimal("0.3458"), "extra": 1}, {"qty": 0}],
    "fee_usd_equiv": Decimal("0.3458"),
    "amended": False,
    "post_only": True,
    "timestamp": "2023-09-22T10:33:05.709950Z",
    "unknown_field": {"anything": [1, 2]},
    "reason": None,
}


def _variants() -> list[Any]:
    out: list[Any] = [TRADE, {"order_id": "O1"}, {"order_id": "O1", "fees": []}]
    out += [push["data"][0] for push in PUSHES.values() if push.get("channel") == "executions"]
    unusual: dict[str, list[Any]] = {
        "order_id": [None, 12, b"O1"],
        "symbol": [7, b"BTC/USD"],
        "order_qty": ["0.5", "x", 1.5, True, [1]],
        "trade_id": ["12", 12.0, 12.5, True, "x"],
        "amended": ["true", 1, 0, "nope"],
        "timestamp": ["2023-09-22T10:33:05", "yesterday", 5],
        "fees": [None, {}, "x", [None], ["x"], [{"qty": None}], [{"asset": 5}], ({"qty": 1},)],
    }
    for key, values in unusual.items():
        for value in values:
            changed = copy.deepcopy(TRADE)
            changed[key] = value
            out.append(changed)
    missing = copy.deepcopy(TRADE)
    del missing["order_id"]
    out += [missing, "not an object", ["order_id"], None]
    return out


@pytest.mark.parametrize("element", _variants())
def test_the_reader_agrees_with_the_schema(element: Any) -> None:
    try:
        expected: Any = load_inbound(executions._REPORT, element, "executions report")
    except VenueProtocolError as exc:
        expected = exc
    try:
        got: Any = executions._load_report(element)
    except VenueProtocolError as exc:
        got = exc
    if isinstance(expected, Exception):
        assert isinstance(got, VenueProtocolError) and str(got) == str(expected)
    else:
        assert got == expected
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}


def test_the_fast_reader_covers_every_report_field() -> None:
    assert executions._READ_REPORT is not None
    read = executions._READ_REPORT(TRADE)
    assert read == load_inbound(executions._REPORT, TRADE, "executions report")
    assert read["order_qty"] == Decimal("0.005") and read["cum_qty"] == Decimal(1)
    assert type(read["cum_qty"]) is Decimal and "unknown_field" not in read
