"""The simulator's vocabulary: orders, trades, the dead man's switch, options and errors.

Everything here is plain data guarded by the exchange's one lock; nothing here locks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from engine.kraken.trading import LIMIT_PRICED, TRIGGERED
from engine.kraken.trading import ORDER_TYPES as _ORDER_TYPES

__all__ = [
    "LIMIT_PRICED",
    "OPEN_STATUSES",
    "ORDER_TYPES",
    "TRIGGERED",
    "Behaviour",
    "DeadMansSwitch",
    "Order",
    "OrderSpec",
    "SimError",
    "Trade",
    "epoch",
    "parse_rfc3339",
    "rfc3339",
    "rfc3339_s",
    "valid_cl_ord_id",
]

# Kraken's own vocabulary, shared with the protocol core (the rules applied to it are not)
ORDER_TYPES = frozenset(_ORDER_TYPES)
OPEN_STATUSES = frozenset({"pending_new", "new", "partially_filled"})

_LONG_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_SHORT_UUID = re.compile(r"^[0-9a-fA-F]{32}$")


class SimError(Exception):
    """A request Kraken would refuse; `error` is Kraken's own string."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def valid_cl_ord_id(value: str) -> bool:
    """Kraken's three `cl_ord_id` forms: long UUID, short UUID, or <= 18 printable ASCII."""
    if _LONG_UUID.match(value) or _SHORT_UUID.match(value):
        return True
    return 0 < len(value) <= 18 and all(0x20 < ord(ch) < 0x7F for ch in value)


_second_cache: tuple[int, str] = (-1, "")


def rfc3339(ts: float) -> str:
    """Microsecond RFC3339 in UTC, as Kraken stamps WS frames.

    The date-time prefix is cached per second: formatting dominates the per-frame cost.
    """
    global _second_cache
    second = int(ts // 1)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (second, prefix)
    micros = round((ts - second) * 1_000_000)
    if micros >= 1_000_000:  # rounds up into the next second: let datetime carry it
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{prefix}.{micros:06d}Z"


def rfc3339_s(ts: float) -> str:
    """Second-precision RFC3339 (the dead man's switch `currentTime` / `triggerTime`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    """Epoch seconds from an RFC3339 string; `ValueError` when malformed."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def epoch(ts: float | None) -> Decimal:
    """Epoch seconds as an exact JSON number (the codec refuses floats); 0 when unset."""
    if ts is None:
        return Decimal(0)
    return Decimal(f"{ts:.6f}")


@dataclass(slots=True)
class OrderSpec:
    """One order request after parsing, in WS v2 vocabulary whatever the transport."""

    symbol: str
    side: str
    order_type: str
    order_qty: Decimal
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    triggers: dict[str, Any] | None = None
    time_in_force: str = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    margin: bool = False
    effective_time: float | None = None
    expire_time: float | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    display_qty: Decimal | None = None
    fee_preference: str | None = None
    no_mpp: bool = False
    stp_type: str = "cancel_newest"
    cash_order_qty: Decimal | None = None
    conditional: dict[str, Any] | None = None
    sender_sub_id: str | None = None


@dataclass(slots=True)
class Order:
    api_key: str
    order_id: str
    spec: OrderSpec
    created_at: float
    seq: int
    status: str = "pending_new"
    cum_qty: Decimal = Decimal(0)
    cum_cost: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    reason: str | None = None
    closed_at: float | None = None
    modified_at: float = 0.0
    amended: bool = False
    trade_ids: list[str] = field(default_factory=list)
    close_seq: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.spec.order_qty - self.cum_qty

    @property
    def avg_price(self) -> Decimal:
        if not self.cum_qty:
            return Decimal(0)
        exact = self.cum_cost / self.cum_qty
        if exact * self.cum_qty == self.cum_cost:
            return exact
        return exact.quantize(Decimal("1e-10")).normalize()

    @property
    def fee_ccy_pref(self) -> str:
        pref = self.spec.fee_preference or ("quote" if self.spec.side == "buy" else "base")
        return "fciq" if pref == "quote" else "fcib"


@dataclass(slots=True)
class Trade:
    exec_id: str
    trade_id: int
    order_id: str
    api_key: str
    symbol: str
    side: str
    order_type: str
    price: Decimal
    qty: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    liquidity_ind: str
    timestamp: float
    postxid: str
    seq: int


@dataclass(slots=True)
class DeadMansSwitch:
    """One account-level timer (per API key), shared by WS and REST, alive across sockets."""

    armed: bool = False
    armed_at: float | None = None
    trigger_at: float | None = None
    arm_count: int = 0
    last_timeout: int | None = None
    fired_count: int = 0


@dataclass(slots=True)
class Behaviour:
    """Choices for what Kraken leaves undocumented; defaults are our best reading of §5-§9.

    - `ack_first`: send a method's response before its executions (`pending_new`, `canceled`)
      instead of after them.
    - `filled_on_last_trade`: the completing `trade` carries `order_status: filled` and no
      separate `filled` report follows.
    - `batch_cancel_shape`: `count` (`result.count`) or `orders_cancelled` (top-level).
    - `post_only_refusal`: `cancel` (pending_new then canceled "Post only order") or `sync`
      (`EOrder:Post only order` on the response, nothing placed).
    - `duplicate_snapshot`: send the executions snapshot twice after subscribe.
    - `token_error`: error string for a missing/unknown/stale WS token.
    - `market_emits_new`: a market order reports `new` before its trade.
    - `match_marketable_limits`: a limit order crossing the reference price fills at once.
    - `req_id_on_schema_errors`: echo `req_id` on `Unsupported field` errors (Kraken omits it).
    - `batch_cancel_reports`: cancel-all / DMS cancels in one executions message instead of
      one message per order.
    """

    ack_first: bool = False
    filled_on_last_trade: bool = False
    batch_cancel_shape: str = "count"
    post_only_refusal: str = "cancel"
    duplicate_snapshot: bool = False
    token_error: str = "ESession:Invalid session"
    market_emits_new: bool = False
    match_marketable_limits: bool = True
    req_id_on_schema_errors: bool = False
    batch_cancel_reports: bool = False
    maker_fee: Decimal = Decimal("0.0016")
    taker_fee: Decimal = Decimal("0.0026")
    dms_reason: str = "CancelAllOrdersAfter Timeout"
    idle_timeout: float = 60.0
    heartbeat_interval: float = 1.0

    def update(self, options: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in options.items():
            if name not in known:
                raise ValueError(f"unknown behaviour {name!r}; expected one of {sorted(known)}")
            current = getattr(self, name)
            if isinstance(current, Decimal):
                value = Decimal(str(value))
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"behaviour {name} takes a bool")
            elif isinstance(current, float):
                value = float(value)
            setattr(self, name, value)
        if self.batch_cancel_shape not in ("count", "orders_cancelled"):
            raise ValueError("batch_cancel_shape is 'count' or 'orders_cancelled'")
        if self.post_only_refusal not in ("cancel", "sync"):
            raise ValueError("post_only_refusal is 'cancel' or 'sync'")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = Decimal(str(value)) if isinstance(value, float) else value
        return out
