"""The simulator's instrument table: the few pairs it lists, under every name Kraken uses.

Kraken names one pair four ways (REST id `XXBTZUSD`, altname `XBTUSD`, wsname `XBT/USD`,
WS v2 symbol `BTC/USD`); the table answers lookups by any of them, and carries the AssetPairs
fields the engine validates against (tick size, lot decimals, `ordermin`, `costmin`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["PAIRS", "Pair", "find_rest_pair", "find_ws_pair"]


@dataclass(frozen=True, slots=True)
class Pair:
    rest_id: str
    altname: str
    wsname: str
    symbol: str  # WS v2 form
    base: str  # REST asset ids
    quote: str
    quote_ws: str  # asset name on WS (fees[].asset)
    pair_decimals: int
    cost_decimals: int
    lot_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    reference_price: Decimal

    def asset_pair_info(self) -> dict[str, Any]:
        """The public AssetPairs entry, with Kraken's field names (numbers as strings)."""
        return {
            "altname": self.altname,
            "wsname": self.wsname,
            "aclass_base": "currency",
            "base": self.base,
            "aclass_quote": "currency",
            "quote": self.quote,
            "lot": "unit",
            "cost_decimals": self.cost_decimals,
            "pair_decimals": self.pair_decimals,
            "lot_decimals": self.lot_decimals,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": [[0, Decimal("0.26")], [50000, Decimal("0.24")], [100000, Decimal("0.22")]],
            "fees_maker": [
                [0, Decimal("0.16")],
                [50000, Decimal("0.14")],
                [100000, Decimal("0.12")],
            ],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": str(self.ordermin),
            "costmin": str(self.costmin),
            "tick_size": str(self.tick_size),
            "status": "online",
        }


def _pair(
    rest_id: str,
    altname: str,
    wsname: str,
    symbol: str,
    base: str,
    quote: str,
    pair_decimals: int,
    lot_decimals: int,
    ordermin: str,
    costmin: str,
    reference_price: str,
) -> Pair:
    return Pair(
        rest_id=rest_id,
        altname=altname,
        wsname=wsname,
        symbol=symbol,
        base=base,
        quote=quote,
        quote_ws=symbol.split("/")[1],
        pair_decimals=pair_decimals,
        cost_decimals=5,
        lot_decimals=lot_decimals,
        ordermin=Decimal(ordermin),
        costmin=Decimal(costmin),
        tick_size=Decimal(1).scaleb(-pair_decimals),
        reference_price=Decimal(reference_price),
    )


PAIRS: tuple[Pair, ...] = (
    _pair("XXBTZUSD", "XBTUSD", "XBT/USD", "BTC/USD", "XXBT", "ZUSD", 1, 8, "0.00005", "0.5",
          "60000.0"),
    _pair("XETHZUSD", "ETHUSD", "ETH/USD", "ETH/USD", "XETH", "ZUSD", 2, 8, "0.002", "0.5",
          "3000.00"),
    _pair("SOLUSD", "SOLUSD", "SOL/USD", "SOL/USD", "SOL", "ZUSD", 2, 8, "0.02", "0.5",
          "150.00"),
    _pair("XXRPZUSD", "XRPUSD", "XRP/USD", "XRP/USD", "XXRP", "ZUSD", 5, 8, "2", "0.5",
          "0.50000"),
)  # fmt: skip

_BY_WS = {p.symbol: p for p in PAIRS}
_BY_REST = {name: p for p in PAIRS for name in (p.rest_id, p.altname, p.wsname, p.symbol)}


def find_ws_pair(symbol: str) -> Pair | None:
    """Look up a WS v2 symbol (`BTC/USD`)."""
    return _BY_WS.get(symbol)


def find_rest_pair(name: str) -> Pair | None:
    """Look up any REST spelling (`XXBTZUSD`, `XBTUSD`, `XBT/USD`) or the WS symbol."""
    return _BY_REST.get(name) or _BY_REST.get(name.upper())
