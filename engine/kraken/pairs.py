"""Pair metadata from public AssetPairs: instrument rules and the one name map between transports.

Kraken spells one pair four ways: WS v2 `BTC/USD`, REST altname `XBTUSD`, REST id `XXBTZUSD`
and the legacy wsname `XBT/USD`. Everything outside this module uses the WS v2 symbol; REST
code translates at its edge through `PairMap`, so no other module knows about `XBT` or `XDG`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.errors import LocalRejection, VenueProtocolError

__all__ = ["Instrument", "PairMap", "check_order_rules", "check_price_and_size", "v2_symbol"]

# WS v2 uses the common ticker where Kraken's legacy asset codes differ (§1).
_V2_ASSET = {"XBT": "BTC", "XDG": "DOGE"}


def v2_symbol(wsname: str) -> str:
    """Legacy wsname (`XBT/USD`) -> WS v2 symbol (`BTC/USD`)."""
    base, sep, quote = wsname.partition("/")
    if not sep:
        raise ValueError(f"not a BASE/QUOTE name: {wsname!r}")
    return f"{_V2_ASSET.get(base, base)}/{_V2_ASSET.get(quote, quote)}"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One pair's names and trading rules (prices and sizes exact, from AssetPairs strings)."""

    symbol: str  # WS v2, e.g. BTC/USD
    rest_id: str  # XXBTZUSD
    altname: str  # XBTUSD
    wsname: str  # XBT/USD
    base: str
    quote: str
    tick_size: Decimal
    pair_decimals: int
    lot_decimals: int
    ordermin: Decimal
    costmin: Decimal | None
    status: str  # online, cancel_only, post_only, limit_only, reduce_only, ...


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise VenueProtocolError(f"AssetPairs {what}: not a number: {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise VenueProtocolError(f"AssetPairs {what}: not a number: {value!r}") from None


def _instrument(rest_id: str, info: Mapping[str, Any]) -> Instrument:
    try:
        pair_decimals = int(info["pair_decimals"])
        tick = info.get("tick_size")
        return Instrument(
            symbol=v2_symbol(info["wsname"]),
            rest_id=rest_id,
            altname=str(info["altname"]),
            wsname=str(info["wsname"]),
            base=str(info["base"]),
            quote=str(info["quote"]),
            tick_size=(
                _decimal(tick, "tick_size")
                if tick is not None
                else Decimal(1).scaleb(-pair_decimals)
            ),
            pair_decimals=pair_decimals,
            lot_decimals=int(info["lot_decimals"]),
            ordermin=_decimal(info.get("ordermin", "0"), "ordermin"),
            costmin=_decimal(info["costmin"], "costmin") if info.get("costmin") else None,
            status=str(info.get("status", "online")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VenueProtocolError(f"AssetPairs entry {rest_id!r} unreadable: {exc!r}") from None


class PairMap:
    """Every spelling of every pair, resolved in one place."""

    def __init__(self, instruments: list[Instrument]) -> None:
        self._by_symbol = {i.symbol: i for i in instruments}
        self._by_any: dict[str, Instrument] = {}
        for i in instruments:
            for name in (i.symbol, i.rest_id, i.altname, i.wsname):
                self._by_any.setdefault(name, i)

    @classmethod
    def from_asset_pairs(cls, result: Mapping[str, Any]) -> PairMap:
        """Build from the `result` of `/0/public/AssetPairs`.

        Entries without a wsname (dark-pool `.d` pairs) are not tradable on WS and are skipped.
        """
        if not isinstance(result, Mapping):
            raise VenueProtocolError("AssetPairs result is not an object")
        instruments = [
            _instrument(rest_id, info)
            for rest_id, info in result.items()
            if isinstance(info, Mapping) and info.get("wsname")
        ]
        return cls(instruments)

    def __contains__(self, name: object) -> bool:
        return name in self._by_any

    def __len__(self) -> int:
        return len(self._by_symbol)

    def symbols(self) -> tuple[str, ...]:
        return tuple(self._by_symbol)

    def instrument(self, symbol: str) -> Instrument:
        """The instrument for a WS v2 symbol (or any other spelling of it).

        Raises:
            LocalRejection: Kraken lists no such pair.
        """
        found = self._by_symbol.get(symbol) or self._by_any.get(symbol)
        if found is None:
            raise LocalRejection("symbol", f"unknown pair {symbol!r}")
        return found

    def to_rest(self, symbol: str) -> str:
        """WS v2 symbol -> REST `pair` parameter (the altname, e.g. `XBTUSD`)."""
        return self.instrument(symbol).altname

    def to_ws(self, name: str) -> str | None:
        """Any REST spelling (id, altname, wsname) -> WS v2 symbol; None when unknown."""
        found = self._by_any.get(name)
        return None if found is None else found.symbol


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check_order_rules(
    instrument: Instrument,
    order_qty: Decimal | None,
    limit_price: Decimal | None,
    *,
    post_only: bool = False,
) -> None:
    """Refuse locally what Kraken would refuse for this pair's rules.

    Covers the pair's status, the tick size, the lot decimals, `ordermin` and (with a price)
    `costmin`. Prices given as offsets (pct/quote) must not be checked here.

    Raises:
        LocalRejection: naming `symbol`, `limit_price` or `order_qty`.
    """
    status = instrument.status
    if status != "online" and not (status == "post_only" and post_only):
        if status == "limit_only" and limit_price is not None:
            pass
        else:
            raise LocalRejection("symbol", f"{instrument.symbol} is {status}, not online")
    check_price_and_size(instrument, order_qty, limit_price)
    if (
        order_qty is not None
        and limit_price is not None
        and instrument.costmin is not None
        and order_qty * limit_price < instrument.costmin
    ):
        raise LocalRejection(
            "order_qty", f"cost {order_qty * limit_price} is below {instrument.costmin}"
        )


def check_price_and_size(
    instrument: Instrument, order_qty: Decimal | None, limit_price: Decimal | None
) -> None:
    """The tick, the lot decimals and `ordermin`: what every new order and every
    `amend_order` of this pair's order must meet (for an amend, `order_qty` is the new total).
    An amend is checked for nothing more (not the pair's status nor `costmin`): Kraken does not
    document them for amends (nor does the simulator check them), and a local refusal of what
    Kraken would accept is worse than a round trip. An offset is not a price.

    Raises:
        LocalRejection: naming `limit_price` or `order_qty`.
    """
    if limit_price is not None and limit_price % instrument.tick_size != 0:
        raise LocalRejection(
            "limit_price", f"{limit_price} is not a multiple of the tick {instrument.tick_size}"
        )
    if order_qty is not None:
        if _decimals(order_qty) > instrument.lot_decimals:
            raise LocalRejection(
                "order_qty", f"more than {instrument.lot_decimals} decimals: {order_qty}"
            )
        if order_qty < instrument.ordermin:
            raise LocalRejection(
                "order_qty", f"{order_qty} is below the minimum {instrument.ordermin}"
            )
