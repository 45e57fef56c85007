"""AssetPairs name map and order rules; Kraken error classification (§7.10)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.errors import LocalRejection, VenueProtocolError
from engine.kraken.codec import decode
from engine.kraken.pairs import PairMap, check_order_rules, v2_symbol
from engine.kraken.venue_errors import (
    ErrorKind,
    classify_error,
    needs_confirmation,
    throttled_until,
)

REST = decode((Path(__file__).parent / "fixtures" / "rest_examples.json").read_text())
PAIRS = PairMap.from_asset_pairs(REST["asset_pairs"]["result"])
D = Decimal


def test_every_spelling_resolves() -> None:
    for name in ("BTC/USD", "XBTUSD", "XXBTZUSD", "XBT/USD"):
        assert PAIRS.to_ws(name) == "BTC/USD"
    assert PAIRS.to_rest("BTC/USD") == "XBTUSD"
    assert PAIRS.to_ws("XDGUSD") == "DOGE/USD"
    assert PAIRS.to_ws("XETHXXBT") == "ETH/BTC"
    assert PAIRS.to_ws("NOPE") is None
    assert "XBTUSD.d" not in PAIRS and len(PAIRS) == 4
    assert v2_symbol("XDG/XBT") == "DOGE/BTC"


def test_instrument() -> None:
    btc = PAIRS.instrument("BTC/USD")
    assert (btc.rest_id, btc.altname, btc.wsname) == ("XXBTZUSD", "XBTUSD", "XBT/USD")
    assert btc.tick_size == D("0.1") and btc.ordermin == D("0.0001") and btc.costmin == D("0.5")
    assert (btc.pair_decimals, btc.lot_decimals, btc.status) == (1, 8, "online")
    with pytest.raises(LocalRejection) as info:
        PAIRS.instrument("FOO/BAR")
    assert info.value.field == "symbol"
    with pytest.raises(VenueProtocolError):
        PairMap.from_asset_pairs({"X": {"wsname": "A/B", "altname": "AB"}})


@pytest.mark.parametrize(
    ("symbol", "qty", "price", "field"),
    [
        ("BTC/USD", D("0.01"), D("30000.05"), "limit_price"),
        ("BTC/USD", D("0.00001"), D("30000.0"), "order_qty"),
        ("BTC/USD", D("0.000000001"), None, "order_qty"),
        ("BTC/USD", D("0.0001"), D("1000.0"), "order_qty"),  # cost 0.1 < costmin 0.5
        ("DOGE/USD", D("100"), D("0.1"), "symbol"),  # cancel_only
    ],
)
def test_order_rules_refuse(symbol: str, qty: Decimal, price: Decimal | None, field: str) -> None:
    with pytest.raises(LocalRejection) as info:
        check_order_rules(PAIRS.instrument(symbol), qty, price)
    assert info.value.field == field


def test_order_rules_accept() -> None:
    btc = PAIRS.instrument("BTC/USD")
    check_order_rules(btc, D("0.12345678"), D("30000.1"))
    check_order_rules(btc, D("1.000000000"), D("30000.10"))  # trailing zeros are not decimals
    check_order_rules(btc, D("1"), None)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EOrder:Insufficient funds", ErrorKind.REJECTED),
        ("EGeneral:Invalid arguments:ordertype", ErrorKind.REJECTED),
        ("EOrder:Post only order", ErrorKind.REJECTED),
        ("EService:Market in cancel_only mode", ErrorKind.REJECTED),
        ("EService:Deadline elapsed", ErrorKind.REJECTED),
        ("Unsupported field: 'price' for the given msg type: add order", ErrorKind.REJECTED),
        ("EOrder:Rate limit exceeded", ErrorKind.RATE_LIMITED),
        ("EOrder:Domain rate limit exceeded", ErrorKind.RATE_LIMITED),
        ("EAPI:Rate limit exceeded", ErrorKind.RATE_LIMITED),
        ("ESession:Invalid session", ErrorKind.INVALID_TOKEN),
        ("EAPI:Invalid token", ErrorKind.INVALID_TOKEN),
        ("EService:Unavailable", ErrorKind.AMBIGUOUS),
        ("EService:Busy", ErrorKind.AMBIGUOUS),
        ("EGeneral:Internal error", ErrorKind.AMBIGUOUS),
        ("EGeneral:Internal error:42", ErrorKind.AMBIGUOUS),
        ("EAPI:Invalid nonce", ErrorKind.RETRYABLE),
        ("EService:Throttled: 1700000000", ErrorKind.RETRYABLE),
        ("EGeneral:Permission denied", ErrorKind.FATAL),
        ("EGeneral:Temporary lockout", ErrorKind.FATAL),
        ("EAPI:Invalid key", ErrorKind.FATAL),
        ("EAPI:Invalid signature", ErrorKind.FATAL),
        ("EAccount:Invalid permissions", ErrorKind.FATAL),
        ("EAuth:Something", ErrorKind.FATAL),
        ("EAPI:Invalid nonce; EGeneral:Internal error", ErrorKind.RETRYABLE),
    ],
)
def test_classify_error(error: str, kind: ErrorKind) -> None:
    assert classify_error(error) is kind


def test_confirmation_and_throttle() -> None:
    assert needs_confirmation("EService:Deadline elapsed")
    assert needs_confirmation("EService:Unavailable")
    assert not needs_confirmation("EOrder:Insufficient funds")
    assert throttled_until("EService:Throttled: 1700000000") == 1700000000
    assert throttled_until("EService:Busy") is None
