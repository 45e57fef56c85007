"""The order snapshot, how Kraken's reports and fills fold into it, and the in-memory index.

`Order` is immutable: every change is a new snapshot built by `lifecycle.apply` (status) and the
merges below (sparse fields). Reports are sparse and may repeat (snapshots after a reconnect,
REST overlapping the channel), so every merge is idempotent and quantities never go backwards.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from engine.domain.lifecycle import (
    LIVE,
    TERMINAL,
    AmendedReported,
    CanceledReported,
    ExpiredReported,
    FilledReported,
    NewReported,
    OrderStatus,
    PendingNewReported,
    RestatedReported,
    StatusChangeReported,
    TradeReported,
    Trigger,
    apply,
)
from engine.domain.reports import FillReport, OrderStatusReport

__all__ = [
    "DuplicateOrder",
    "Order",
    "OrderBook",
    "apply_fill",
    "apply_report",
    "trigger_for_report",
]

_ZERO: Final = Decimal(0)
# on the book: what counts against a pair's open-orders cap
_RESTING: Final = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """One order as the engine knows it at one moment.

    `fills_qty` / `fills_cost` are the sums of the fills booked through `apply_fill`; they let a
    fill advance `cum_qty` when it arrives before the report that carries the new `cum_qty`,
    without ever counting a fill twice. They are not columns: after a restart they start at 0,
    which only means fills cannot advance quantities until they pass the reported `cum_qty`.
    """

    cl_ord_id: str | None
    order_userref: int | None = None
    order_id: str | None = None
    account: str
    symbol: str
    side: str
    order_type: str
    # 0: not known in the base currency (a market buy sized by `cash_order_qty`) until a
    # report gives it; such an order is filled when Kraken says so, never by quantity
    order_qty: Decimal
    limit_price: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING_SUBMIT
    cum_qty: Decimal = _ZERO
    cum_cost: Decimal = _ZERO
    avg_price: Decimal | None = None  # None until something filled
    fees: Decimal = _ZERO  # sum of the booked fills' fees, in their fee currency
    reason: str | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None
    closed_at: datetime | None = None
    amend_count: int = 0
    pk: int | None = None
    fills_qty: Decimal = _ZERO
    fills_cost: Decimal = _ZERO

    @property
    def remaining_qty(self) -> Decimal:
        """order_qty - cum_qty (never negative), from quantities, never from the status word."""
        remaining = self.order_qty - self.cum_qty
        return remaining if remaining > 0 else _ZERO

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_live(self) -> bool:
        """Not terminal: in flight or working on Kraken; the engine must keep tracking it."""
        return self.status in LIVE

    def evolve(self, changes: Mapping[str, Any]) -> Order:
        """A new snapshot with `changes` applied: `dataclasses.replace(self, **changes)`, at a
        tenth of its cost (it ran twice per execution update in the order manager).

        Raises:
            AttributeError: a name in `changes` is not a field.
        """
        return _evolve(self, changes)


def _compile_evolve() -> Callable[[Order, Mapping[str, Any]], Order]:
    """Build `Order.evolve`: a copy made field by field on a mutable twin of `Order` (the same
    slots, so Python lets the copy take `Order` as its class once it is complete).

    `dataclasses.replace` goes through `__init__`, which sets each of the 25 fields with
    `object.__setattr__`; the twin is set with plain attribute stores, in code generated once
    here as dataclasses generates `__init__`. If this Python refuses the class change, or the
    result differs from `replace`, `replace` is used.
    """
    names = [f.name for f in fields(Order)]
    twin = type("_OrderDraft", (), {"__slots__": Order.__slots__})
    body = "".join(f"    draft.{name} = order.{name}\n" for name in names)
    source = (
        "def evolve(order, changes):\n"
        "    draft = new(Draft)\n"
        f"{body}"
        "    for name, value in changes.items():\n"
        "        setattr(draft, name, value)\n"
        "    draft.__class__ = Order\n"
        "    return draft\n"
    )
    namespace: dict[str, Any] = {"new": object.__new__, "Draft": twin, "Order": Order}
    exec(source, namespace)  # fixed text, built from the field names above
    fast: Callable[[Order, Mapping[str, Any]], Order] = namespace["evolve"]

    def slow(order: Order, changes: Mapping[str, Any]) -> Order:
        return replace(order, **changes)

    at = datetime(2024, 1, 1)
    probe = Order(cl_ord_id="probe", account="a", symbol="s", side="buy", order_type="limit",
                  order_qty=Decimal(1), created_at=at, updated_at=at)  # fmt: skip
    change = {"status": OrderStatus.NEW, "cum_qty": Decimal("0.5"), "pk": 7}
    try:
        copied = fast(probe, change)
    except TypeError:
        return slow
    if type(copied) is not Order or copied != slow(probe, change):
        return slow
    return fast


_evolve = _compile_evolve()


# --- reports -> triggers --------------------------------------------------------------------

# Fieldless triggers are shared: the hot path allocates nothing for them.
_PENDING_NEW: Final = PendingNewReported()
_NEW: Final = NewReported()
_FILLED: Final = FilledReported()
_CANCELED: Final = CanceledReported()
_EXPIRED: Final = ExpiredReported()
_STATUS: Final = StatusChangeReported()

_BY_EXEC_TYPE: Final[dict[str, Trigger]] = {
    "pending_new": _PENDING_NEW,
    "new": _NEW,
    "filled": _FILLED,
    "canceled": _CANCELED,
    "expired": _EXPIRED,
    "status": _STATUS,
    "iceberg_refill": StatusChangeReported("iceberg_refill"),
}

# REST reports carry no exec_type: their order_status (WS words, or REST's own as a fallback)
# says where the order is.
_BY_ORDER_STATUS: Final[dict[str, Trigger]] = {
    "pending_new": _PENDING_NEW,
    "pending": _PENDING_NEW,
    "new": _NEW,
    "open": _NEW,  # quantity normalisation turns it into partially_filled when cum_qty > 0
    "filled": _FILLED,
    "closed": _FILLED,
    "canceled": _CANCELED,
    "expired": _EXPIRED,
}


def trigger_for_report(report: OrderStatusReport) -> Trigger:
    """The lifecycle trigger an executions (or REST) report stands for.

    The exec_type says what happened; a trade's `order_status` is never used (it says
    `partially_filled` for the fill that completes the order). Unknown exec types are field
    updates, as kraken-spot-v2 §5.3 asks.
    """
    exec_type = report.exec_type
    if exec_type is None:
        status = report.order_status
        if status == "partially_filled":
            return TradeReported(report.cum_qty)
        if status is None:
            return _STATUS
        return _BY_ORDER_STATUS.get(status, _STATUS)
    if exec_type == "trade":
        return TradeReported(report.cum_qty)
    if exec_type == "amended":
        return AmendedReported(report.order_qty, report.limit_price)
    if exec_type == "restated":
        return RestatedReported(report.order_qty, report.limit_price)
    trigger = _BY_EXEC_TYPE.get(exec_type)
    return trigger if trigger is not None else StatusChangeReported(exec_type)


def _merge_quantities(order: Order, report: OrderStatusReport, changes: dict[str, Any]) -> None:
    cum = report.cum_qty
    if cum is None or cum < order.cum_qty:
        return  # not said, or older than what we know
    if cum > order.cum_qty:
        changes["cum_qty"] = cum
    if cum <= 0:
        return
    cost = report.cum_cost
    avg = report.avg_price
    if cost is None and avg is not None:
        cost = avg * cum
    if avg is None and cost is not None:
        avg = cost / cum
    if cost is not None and cost != order.cum_cost:
        changes["cum_cost"] = cost
    if avg is not None and avg != order.avg_price:
        changes["avg_price"] = avg


def apply_report(order: Order, report: OrderStatusReport, *, now: datetime) -> Order:
    """Fold one Kraken report into the order: its sparse fields, then its trigger.

    Returns the same object when the report says nothing new, so a duplicate costs nothing.

    Raises:
        InvalidTransition: the report contradicts the order's state (see lifecycle); the order
            passed in is unchanged.
    """
    trigger = trigger_for_report(report)
    changes: dict[str, Any] = {}
    if order.order_id is None and report.order_id:
        changes["order_id"] = report.order_id
    if order.cl_ord_id is None and report.cl_ord_id:
        changes["cl_ord_id"] = report.cl_ord_id
    if order.order_userref is None and report.order_userref:
        changes["order_userref"] = report.order_userref
    if report.reason and report.reason != order.reason:
        changes["reason"] = report.reason
    if type(trigger) is not AmendedReported and type(trigger) is not RestatedReported:
        # amended/restated terms go through the trigger (it counts amendments)
        if report.order_qty is not None and report.order_qty != order.order_qty:
            changes["order_qty"] = report.order_qty
        if report.limit_price is not None and report.limit_price != order.limit_price:
            changes["limit_price"] = report.limit_price
    _merge_quantities(order, report, changes)
    if changes:
        changes["updated_at"] = now
        return apply(order.evolve(changes), trigger, now=now)
    return apply(order, trigger, now=now)


def apply_fill(order: Order, fill: FillReport, *, now: datetime) -> Order:
    """Book one fill: its fee always, its quantity only where no report has counted it yet.

    Call it once per new exec_id (the caller de-duplicates). The report of the same execution
    usually brings the same `cum_qty`; whichever arrives first advances the order.

    Raises:
        InvalidTransition: the fill would advance an order that cannot trade (rejected).
    """
    cost = fill.cost if fill.cost is not None else fill.last_qty * fill.last_price
    fills_qty = order.fills_qty + fill.last_qty
    fills_cost = order.fills_cost + cost
    changes: dict[str, Any] = {
        "fills_qty": fills_qty,
        "fills_cost": fills_cost,
        "fees": order.fees + fill.fee,
        "updated_at": now,
    }
    if order.order_id is None and fill.order_id:
        changes["order_id"] = fill.order_id
    if fills_qty <= order.cum_qty:
        return order.evolve(changes)
    changes["cum_qty"] = fills_qty
    changes["cum_cost"] = fills_cost
    changes["avg_price"] = fills_cost / fills_qty
    return apply(order.evolve(changes), TradeReported(fills_qty), now=now)


# --- the index ------------------------------------------------------------------------------


class DuplicateOrder(ValueError):
    """A live order already holds this cl_ord_id (or order_userref and symbol, or pk)."""


class OrderBook:
    """The orders one actor tracks, indexed by every key Kraken or the database may use.

    Mutable and unsynchronised on purpose: exactly one actor owns it. Keys only ever appear
    (order_id after the ack, pk after the insert), so `replace` adds index entries and never
    moves them. The (order_userref, symbol) index holds orders without a cl_ord_id only: for
    them it is the only key Kraken echoes before the order id is known.
    """

    def __init__(self) -> None:
        self._orders: dict[int, Order] = {}
        self._live: set[int] = set()
        # terminal orders' handles, in the order they ended (an OrderedDict: a dict drained from
        # its front scans the holes its deletions left, an OrderedDict does not)
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._by_cl_ord_id: dict[str, int] = {}
        self._by_order_id: dict[str, int] = {}
        self._by_userref: dict[tuple[int, str], int] = {}
        self._by_pk: dict[int, int] = {}
        self._next_handle = 0

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[Order]:
        return iter(list(self._orders.values()))

    def add(self, order: Order) -> None:
        """Track a new order.

        Raises:
            DuplicateOrder: a live order already uses its order_id or its pk, or a live
                order still without order_id uses its cl_ord_id, or its (order_userref,
                symbol) and no cl_ord_id (Kraken could not tell the two apart). A terminal
                holder is displaced from that index (a cl_ord_id may be reused once closed),
                and so is a live one that Kraken knows by its order_id: a cl_ord_id is unique
                among Kraken's open orders only, and that order may have closed there with
                its report still on the way (if not, Kraken refuses the new one).
        """
        for index, key in self._keys(order):
            holder = index.get(key)
            if holder is None or holder not in self._live:
                continue
            if (index is self._by_userref or index is self._by_cl_ord_id) and self._orders[
                holder
            ].order_id is not None:
                continue  # Kraken's reports tell the two apart by order_id now
            raise DuplicateOrder(f"{key!r} already belongs to a live order")
        handle = self._next_handle
        self._next_handle += 1
        self._orders[handle] = order
        if order.status in LIVE:
            self._live.add(handle)
        else:
            self._ended[handle] = None
        self._index(handle, order)

    def replace(self, order: Order) -> None:
        """Store a newer snapshot of an order already tracked (found by any of its keys).

        Raises:
            KeyError: no tracked order has any of its keys.
        """
        handle = self._find(order)
        if handle is None:
            raise KeyError(f"order not tracked: cl_ord_id={order.cl_ord_id} pk={order.pk}")
        before = self._orders[handle]
        self._orders[handle] = order
        if order.status in LIVE:
            self._live.add(handle)
            self._ended.pop(handle, None)
        elif handle in self._live:
            self._live.discard(handle)
            self._ended[handle] = None
        if (
            order.pk != before.pk
            or order.order_id != before.order_id
            or order.cl_ord_id != before.cl_ord_id
            or order.order_userref != before.order_userref
            or order.symbol != before.symbol
        ):
            self._index(handle, order)  # a key appeared (a fill or a report changes none)

    def get_by_cl_ord_id(self, cl_ord_id: str) -> Order | None:
        return self._get(self._by_cl_ord_id.get(cl_ord_id))

    def get_by_order_id(self, order_id: str) -> Order | None:
        return self._get(self._by_order_id.get(order_id))

    def get_by_userref(self, order_userref: int, symbol: str) -> Order | None:
        """The order placed with only this order_userref on this symbol (no cl_ord_id)."""
        return self._get(self._by_userref.get((order_userref, symbol)))

    def get_by_pk(self, pk: int) -> Order | None:
        return self._get(self._by_pk.get(pk))

    def find_for_report(self, report: OrderStatusReport | FillReport) -> Order | None:
        """The tracked order a Kraken report is about: order_id, then cl_ord_id, then userref.

        Kraken's id decides first. A cl_ord_id or userref match only counts for an order whose
        Kraken id is still unknown (or the same): cl_ord_id is unique among *open* orders only,
        so a closed order may share it with a new one.
        """
        if report.order_id:
            found = self.get_by_order_id(report.order_id)
            if found is not None:
                return found
        if report.cl_ord_id:
            found = self.get_by_cl_ord_id(report.cl_ord_id)
            if found is not None and found.order_id in (None, report.order_id):
                return found
        symbol = getattr(report, "symbol", None)
        if report.order_userref and symbol:
            found = self.get_by_userref(report.order_userref, symbol)
            if found is not None and found.order_id in (None, report.order_id):
                return found
        return None

    def live(self) -> list[Order]:
        """Every order not terminal (in flight or working), oldest first."""
        return [self._orders[h] for h in sorted(self._live)]

    def live_count(self) -> int:
        return len(self._live)

    def resting_on(self, symbol: str) -> int:
        """How many orders Kraken shows resting on `symbol`'s book (`new`, `partially_filled`);
        a scan, so callers check `live_count` first."""
        orders = self._orders
        return sum(
            1 for h in self._live if orders[h].symbol == symbol and orders[h].status in _RESTING
        )

    def forget_ended(self, cutoff: datetime | None = None, keep_at_most: int | None = None) -> int:
        """Forget ended orders, oldest-ended first: those closed (or last updated) before
        `cutoff`, and any beyond the newest `keep_at_most`. Returns how many went.

        Memory stays bounded by the live orders plus a bounded recent history, whatever the
        order rate: a time limit alone let a burst of thousands of orders a second hold thousands
        of ended snapshots, and the allocator keeps the high-water mark of such peaks. The
        database keeps the rest; a late report for a forgotten order is matched there. The
        cutoff stops at the first order ended after it, so an order that ended out of turn (by
        its timestamps) stays until those ended before it have gone.
        """
        ended = self._ended
        gone = 0
        while ended:
            handle = next(iter(ended))
            order = self._orders[handle]
            over = keep_at_most is not None and len(ended) > keep_at_most
            if not over and (cutoff is None or (order.closed_at or order.updated_at) >= cutoff):
                break
            del ended[handle]
            del self._orders[handle]
            for index, key in self._keys(order):
                if index.get(key) == handle:
                    del index[key]
            gone += 1
        return gone

    # -- private --

    def _get(self, handle: int | None) -> Order | None:
        return None if handle is None else self._orders.get(handle)

    def _keys(self, order: Order) -> list[tuple[dict[Any, int], Any]]:
        keys: list[tuple[dict[Any, int], Any]] = []
        if order.cl_ord_id:
            keys.append((self._by_cl_ord_id, order.cl_ord_id))
        elif order.order_userref:  # 0 is Kraken's "not set"
            keys.append((self._by_userref, (order.order_userref, order.symbol)))
        if order.order_id:
            keys.append((self._by_order_id, order.order_id))
        if order.pk is not None:
            keys.append((self._by_pk, order.pk))
        return keys

    def _index(self, handle: int, order: Order) -> None:
        for index, key in self._keys(order):
            index[key] = handle

    def _find(self, order: Order) -> int | None:
        if order.pk is not None and (handle := self._by_pk.get(order.pk)) is not None:
            return handle
        if order.cl_ord_id and (handle := self._by_cl_ord_id.get(order.cl_ord_id)) is not None:
            return handle
        if order.order_id and (handle := self._by_order_id.get(order.order_id)) is not None:
            return handle
        if not order.cl_ord_id and order.order_userref:
            return self._by_userref.get((order.order_userref, order.symbol))
        return None
