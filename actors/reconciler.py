"""ReconcilerActor: asks Kraken's REST API what happened while the engine could not see.

It never touches order state: it answers a `ReconcileRequested` with a `VenueSnapshot` (or
`ReconcileFailed`) and the order manager applies it. The cost follows what changed since the
last sync: OpenOrders (bounded by the open orders), ClosedOrders and TradesHistory from `since`
(paginated), and QueryOrders only for ids the lists did not mention.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from actors.messages import ReconcileFailed, ReconcileRequested, VenueSnapshot
from actors.rest_client import RestClient
from actors.supervision import EngineActor, FailureHandler
from engine.domain.clock import Clock
from engine.domain.reports import FillReport, OrderStatusReport
from engine.errors import CredentialsRefused, KrakenRouterError
from engine.kraken.pairs import PairMap
from engine.kraken.rest import (
    parse_closed_orders,
    parse_open_orders,
    parse_query_orders,
    parse_trades_history,
)

__all__ = ["ReconcilerActor"]

log = logging.getLogger("kraken_router.reconciler")

_PAGE = 50
_QUERY_MAX = 50
# REST timestamps are float seconds and REST may lag the socket: look a little further back
_OVERLAP = timedelta(seconds=60)


class ReconcilerActor(EngineActor):
    def __init__(
        self, rest: RestClient, clock: Clock, on_failed: FailureHandler | None = None
    ) -> None:
        super().__init__(on_failed)
        self._rest = rest
        self._clock = clock
        self._pairs: PairMap | None = None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ReconcileRequested):
            self._reconcile(message)
        return None

    def _reconcile(self, request: ReconcileRequested) -> None:
        taken_at = self._clock.now()
        try:
            pairs = self._pair_map()
            orders: dict[str, OrderStatusReport] = {}
            for report in parse_open_orders(self._rest.private("OpenOrders", {}), pairs):
                orders[report.order_id] = report
            start = _epoch(request.since - _OVERLAP) if request.since else None
            for report in self._paged_closed(start, pairs):
                orders[report.order_id] = report
            missing = [oid for oid in request.order_ids if oid not in orders]
            for chunk in _chunks(missing, _QUERY_MAX):
                result = self._rest.private("QueryOrders", {"txid": ",".join(chunk)})
                for report in parse_query_orders(result, pairs):
                    orders[report.order_id] = report
            fills = self._paged_trades(start, pairs)
        except KrakenRouterError as exc:
            log.warning("reconciliation (%s) failed: %s", request.reason, exc)
            retry_after = exc.retry_after_s if isinstance(exc, CredentialsRefused) else 1.0
            request.reply_to.tell(
                ReconcileFailed(request.reason, str(exc), taken_at, retry_after_s=retry_after)
            )
            return
        request.reply_to.tell(
            VenueSnapshot(request.reason, tuple(orders.values()), tuple(fills), taken_at)
        )

    def _pair_map(self) -> PairMap | None:
        if self._pairs is None:
            try:
                self._pairs = PairMap.from_asset_pairs(self._rest.public("AssetPairs"))
            except KrakenRouterError as exc:
                log.warning("AssetPairs unavailable, REST pair names stay untranslated: %s", exc)
        return self._pairs

    def _paged_closed(self, start: int | None, pairs: PairMap | None) -> list[OrderStatusReport]:
        reports: list[OrderStatusReport] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"ofs": offset, "closetime": "close"}
            if start is not None:
                params["start"] = start
            page, count = parse_closed_orders(self._rest.private("ClosedOrders", params), pairs)
            reports.extend(page)
            offset += _PAGE
            if not page or offset >= count:
                return reports

    def _paged_trades(self, start: int | None, pairs: PairMap | None) -> list[FillReport]:
        fills: list[FillReport] = []
        offset = 0
        while True:
            params: dict[str, Any] = {"ofs": offset, "consolidate_taker": False}
            if start is not None:
                params["start"] = start
            page, count = parse_trades_history(self._rest.private("TradesHistory", params), pairs)
            fills.extend(page)
            offset += _PAGE
            if not page or offset >= count:
                return fills


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
