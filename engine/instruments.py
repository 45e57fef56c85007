"""The pairs' trading rules, kept fresh, and the local checks the facade runs before the wire.

Kraken refuses an order off the tick, under `ordermin` or `costmin`, with too many decimals, or on
a pair that is not online; each refusal costs a round trip and, for adds, a point on the pair's
rate counter. So the facade checks in the caller's thread, right after `build_params`, against
the rules of public AssetPairs: loaded at start, cached in the database (`kv_state`, one JSON
document) so that a start while Kraken's REST is down still checks against yesterday's rules,
and reloaded every `instruments_refresh_s` by a daemon thread. With neither REST nor cache the
engine runs without checks (and says so in the log): Kraken still refuses what is wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from engine.errors import KrakenRouterError, LocalRejection
from engine.kraken.codec import decode, encode
from engine.kraken.pairs import PairMap, check_order_rules, check_price_and_size
from persistence import repository

__all__ = ["CACHE_KEY", "Instruments"]

log = logging.getLogger("kraken_router.instruments")

CACHE_KEY = "asset_pairs"
# the AssetPairs fields the rules need; the rest (fees, leverage) is not cached
_FIELDS = (
    "altname",
    "wsname",
    "base",
    "quote",
    "pair_decimals",
    "lot_decimals",
    "tick_size",
    "ordermin",
    "costmin",
    "status",
)
_PRICED = ("limit_price",)


class Instruments:
    """One account's view of the pairs' rules; `check` is safe from any thread.

    Args:
        fetch: returns the `result` of public AssetPairs (raises a `KrakenRouterError`).
        sessions: the engine's sessionmaker, for the cache.
        account: the `kv_state` owner of the cache row.
        refresh_s: seconds between reloads.
    """

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        sessions: sessionmaker[Session],
        account: str,
        refresh_s: float,
    ) -> None:
        self._fetch = fetch
        self._sessions = sessions
        self._account = account
        self._refresh_s = refresh_s
        self._pairs: PairMap | None = None
        self.source = "none"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pairs(self) -> PairMap | None:
        return self._pairs

    def load(self) -> None:
        """At start: REST first, then the cache; without either, checks are off."""
        if self.refresh():
            return
        with self._sessions() as session:
            cached = repository.get_kv(session, self._account, CACHE_KEY)
        if cached is not None:
            try:
                self._pairs = PairMap.from_asset_pairs(decode(cached))
                self.source = "cache"
                log.warning("AssetPairs unavailable: checking orders against the cached rules")
                return
            except (KrakenRouterError, ValueError) as exc:
                log.warning("the cached AssetPairs is unreadable: %s", exc)
        log.warning("AssetPairs unavailable and not cached: orders go out without local checks")

    def refresh(self) -> bool:
        """Reload from REST and store in the cache; False (rules kept) when that fails."""
        try:
            result = self._fetch()
            pairs = PairMap.from_asset_pairs(result)
        except KrakenRouterError as exc:
            log.warning("AssetPairs could not be loaded: %s", exc)
            return False
        self._pairs = pairs
        self.source = "rest"
        slim = {
            rest_id: {k: info[k] for k in _FIELDS if k in info}
            for rest_id, info in result.items()
            if isinstance(info, Mapping)
        }
        try:
            with self._sessions() as session, session.begin():
                repository.set_kv(session, self._account, CACHE_KEY, encode(slim))
        except Exception as exc:  # the cache is a convenience; the rules are loaded
            log.warning("could not cache AssetPairs: %s", exc)
        return True

    def start_refreshing(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="kraken-router-instruments", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            self.refresh()

    def check(self, method: str, params: Mapping[str, Any]) -> None:
        """Refuse what the pair's rules forbid (`LocalRejection` naming the field).

        Covers add_order, batch_add and edit_order; amend_order names no symbol, so the order
        manager checks it with `check_amend`. Unknown pairs are left to Kraken when no rules
        loaded.
        """
        pairs = self._pairs
        if pairs is None:
            return
        if method == "add_order":
            _check_one(pairs, params["symbol"], params)
        elif method == "batch_add":
            for order in params["orders"]:
                _check_one(pairs, params["symbol"], order)
        elif method == "edit_order" and "symbol" in params:
            _check_one(pairs, params["symbol"], params)

    def check_amend(self, symbol: str, params: Mapping[str, Any]) -> None:
        """Refuse an amend_order of an order on `symbol` that breaks the pair's tick, lot
        decimals or minimum (`LocalRejection` naming the field). The order manager calls it:
        only its book knows which pair the amended order is on."""
        pairs = self._pairs
        if pairs is None:
            return
        try:
            instrument = pairs.instrument(symbol)
        except LocalRejection:
            return  # a pair no longer listed: Kraken decides
        check_price_and_size(instrument, *_qty_and_price(params))


def _check_one(pairs: PairMap, symbol: str, params: Mapping[str, Any]) -> None:
    instrument = pairs.instrument(symbol)
    if instrument.symbol != symbol:
        # Kraken's other spellings (XBT/USD, XBTUSD, XXBTZUSD) are not WebSocket v2 symbols:
        # Kraken refuses them after a round trip. Refused here, the caller learns the v2 name
        # (not sent under it silently: the order's row and its history keep what was asked).
        raise LocalRejection(
            "symbol",
            f"{symbol!r} is Kraken's REST name for this pair; on WebSocket v2 it is "
            f"{instrument.symbol!r}",
        )
    check_order_rules(
        instrument,
        *_qty_and_price(params),
        post_only=bool(params.get("post_only")),
    )


def _qty_and_price(params: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    qty = params.get("order_qty")
    price = params.get("limit_price")
    if params.get("limit_price_type") not in (None, "static"):
        price = None  # an offset, not a price: the tick does not apply
    return (
        Decimal(qty) if qty is not None else None,
        Decimal(price) if price is not None else None,
    )
