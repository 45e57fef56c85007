"""Venue-state nouns: what Kraken says about an order or a fill, whichever path brought it.

The executions channel and the REST reconciliation endpoints both map onto these two types, so
the lifecycle and reconciliation code never sees a raw dict. Reports are sparse, like Kraken's:
`None` means "not said in this report", never "zero".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = ["FillReport", "OrderStatusReport"]


@dataclass(frozen=True, slots=True)
class OrderStatusReport:
    """One order's state as reported by Kraken (an executions report or a REST order)."""

    order_id: str
    exec_type: str | None = None  # executions exec_type; None for REST
    order_status: str | None = None  # Kraken's WS words: pending_new, new, partially_filled, ...
    timestamp: datetime | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    symbol: str | None = None  # WS v2 form, e.g. BTC/USD
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    fee_usd_equiv: Decimal | None = None
    reason: str | None = None
    amended: bool | None = None
    time_in_force: str | None = None
    post_only: bool | None = None
    source: str = "executions"  # executions | reconciliation
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class FillReport:
    """One fill, keyed by `exec_id` (WS) which equals the REST trade txid."""

    exec_id: str
    order_id: str
    last_qty: Decimal
    last_price: Decimal
    timestamp: datetime | None = None
    cost: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    liquidity_ind: str | None = None  # m (maker) or t (taker)
    trade_id: int | None = None
    symbol: str | None = None
    side: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    source: str = "executions"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
