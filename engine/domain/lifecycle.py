"""The order lifecycle: statuses, the triggers that move them, one table and one `apply`.

Theory of operation
-------------------
An order is a frozen snapshot (`engine.domain.order.Order`). Everything that can happen to it is a
*trigger*: a small immutable record of a fact, either about our side (`Sent`, `NeverSent`,
`OutcomeUnknown`), about Kraken's answer to the creating request (`Acknowledged`, `Rejected`), or
about what the executions channel / REST said (`*Reported`). Triggers are our domain events, not
raw venue strings; `engine.domain.order.trigger_for_report` does that translation.

`_TRANSITIONS` maps (current status, trigger type) to the next status, or to a small rule when the
answer depends on quantities. A pair missing from the table is illegal: `apply` raises
`InvalidTransition` and, orders being immutable, the caller's order is untouched. `apply` returns
the *same object* when nothing changed, so the single writer can skip the database write.

Four facts shape the table:

* The acknowledgement and the executions channel are independent streams (kraken-spot-v2 §5.7,
  §8.4). Executions may arrive before the ack, so every Kraken report is legal from
  `pending_submit` and `submitted`; an ack arriving after `new`, or even after `filled`, only
  records the order id. Late reports never move an order backwards (`pending_new` after `new`).
* Quantity decides completion, never a trade's `order_status` (§5.3, §8.6). Whenever Kraken shows
  an order working, its status is normalised by `cum_qty`: 0 stays at the reported stage,
  0 < cum < order_qty is `partially_filled`, cum >= order_qty is `filled`. A `filled` report is
  the other way to `filled`, and the only one for an order whose order_qty is not known (0: a
  market buy sized by `cash_order_qty`).
* Ambiguity is not a status (principle 7): `OutcomeUnknown` is legal everywhere and changes
  nothing; the caller queues reconciliation.
* Terminal statuses absorb, with three documented exceptions where a later fact is stronger:
  - `canceled`/`expired` -> `filled` when a `filled` report or a trade bringing `cum_qty` to
    `order_qty` follows (a fill raced the cancel; Nautilus allows CANCELED -> FILLED). A trade
    that leaves quantity open keeps the order canceled/expired but its quantities advance.
    In the other order, `filled` absorbs a late `canceled`/`expired`: both arrival orders
    converge on `filled`.
  - `not_sent` is our conclusion (a queue timeout, or reconciliation finding no trace after the
    deadline), not Kraken's. Any evidence from Kraken (an ack, a rejection, any report) wins and
    moves it to what Kraken says.
  - `rejected` is Kraken's definitive word on the creating request: nothing leaves it, and a
    report about a rejected order raises (it is about another order; reconcile).

There are no `pending_cancel` / `pending_amend` overlays: the status vocabulary of the contract
has none. A cancel or amend request in flight, refused, or unknown leaves the status alone; the
executions channel moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeAlias

if TYPE_CHECKING:
    from engine.domain.order import Order

__all__ = [
    "IN_FLIGHT",
    "LIVE",
    "TERMINAL",
    "TRIGGER_TYPES",
    "WORKING",
    "Acknowledged",
    "AmendedReported",
    "CanceledReported",
    "ExpiredReported",
    "FilledReported",
    "InvalidTransition",
    "NeverSent",
    "NewReported",
    "OrderStatus",
    "OutcomeUnknown",
    "PendingNewReported",
    "Rejected",
    "RestatedReported",
    "Sent",
    "StatusChangeReported",
    "TradeReported",
    "Trigger",
    "apply",
    "transition_table",
]


class OrderStatus(StrEnum):
    """The contract's status words; the value is what the database and `--json` say."""

    PENDING_SUBMIT = "pending_submit"  # intent committed, not sent
    SUBMITTED = "submitted"  # sent, no answer
    PENDING_NEW = "pending_new"  # Kraken validated it (ack or pending_new report)
    NEW = "new"  # live, nothing filled
    PARTIALLY_FILLED = "partially_filled"  # live, 0 < cum_qty < order_qty
    FILLED = "filled"
    CANCELED = "canceled"  # may carry cum_qty > 0
    EXPIRED = "expired"
    REJECTED = "rejected"  # Kraken refused the creating request
    NOT_SENT = "not_sent"  # never sent, or concluded never placed


_PS = OrderStatus.PENDING_SUBMIT
_SU = OrderStatus.SUBMITTED
_PN = OrderStatus.PENDING_NEW
_NW = OrderStatus.NEW
_PF = OrderStatus.PARTIALLY_FILLED
_FI = OrderStatus.FILLED
_CA = OrderStatus.CANCELED
_EX = OrderStatus.EXPIRED
_RJ = OrderStatus.REJECTED
_NS = OrderStatus.NOT_SENT

#: Nothing more will happen to the order on the exchange (except the edges in the module doc).
TERMINAL: Final = frozenset({_FI, _CA, _EX, _RJ, _NS})
#: Ours, not yet confirmed by Kraken: may or may not exist on the exchange.
IN_FLIGHT: Final = frozenset({_PS, _SU})
#: Kraken has shown the order and it is still open.
WORKING: Final = frozenset({_PN, _NW, _PF})
#: Not terminal: the engine must keep tracking it (IN_FLIGHT | WORKING).
LIVE: Final = IN_FLIGHT | WORKING


# --- triggers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trigger:
    """Base of everything `apply` accepts."""


@dataclass(frozen=True, slots=True)
class Sent(Trigger):
    """The creating request left on the socket."""


@dataclass(frozen=True, slots=True)
class Acknowledged(Trigger):
    """Kraken answered success to the creating request (add_order, a batch_add row, edit_order)."""

    order_id: str


@dataclass(frozen=True, slots=True)
class Rejected(Trigger):
    """Kraken answered the creating request with an error: definitive, nothing happened."""

    error: str


@dataclass(frozen=True, slots=True)
class OutcomeUnknown(Trigger):
    """A request about this order timed out or lost its connection; the order stays in flight."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class NeverSent(Trigger):
    """Queue timeout, or reconciliation concluded the order was never placed."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class PendingNewReported(Trigger):
    """exec_type `pending_new` (or REST `pending`)."""


@dataclass(frozen=True, slots=True)
class NewReported(Trigger):
    """exec_type `new` (or REST `open`)."""


@dataclass(frozen=True, slots=True)
class TradeReported(Trigger):
    """exec_type `trade`; `cum_qty` is the order's cumulative quantity after it, when said."""

    cum_qty: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FilledReported(Trigger):
    """exec_type `filled` (or REST `closed`): terminal; carries no new fill."""


@dataclass(frozen=True, slots=True)
class CanceledReported(Trigger):
    """exec_type `canceled` (user, DMS, post-only cross, IOC remainder, STP...)."""


@dataclass(frozen=True, slots=True)
class ExpiredReported(Trigger):
    """exec_type `expired`."""


@dataclass(frozen=True, slots=True)
class AmendedReported(Trigger):
    """exec_type `amended`: a user amend was applied; new terms when said."""

    order_qty: Decimal | None = None
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RestatedReported(Trigger):
    """exec_type `restated`: Kraken changed the order itself; new terms when said."""

    order_qty: Decimal | None = None
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StatusChangeReported(Trigger):
    """exec_type `status`, `iceberg_refill` or one we do not know: fields only, no new stage."""

    exec_type: str | None = None


TRIGGER_TYPES: Final[tuple[type[Trigger], ...]] = (
    Sent,
    Acknowledged,
    Rejected,
    OutcomeUnknown,
    NeverSent,
    PendingNewReported,
    NewReported,
    TradeReported,
    FilledReported,
    CanceledReported,
    ExpiredReported,
    AmendedReported,
    RestatedReported,
    StatusChangeReported,
)


class InvalidTransition(Exception):
    """`trigger` cannot happen to an order in `status`; the order was left as it was.

    Not part of the user-facing error tree: the single writer catches it, logs the anomaly and
    usually asks for reconciliation.
    """

    def __init__(self, status: OrderStatus, trigger: Trigger) -> None:
        super().__init__(f"{type(trigger).__name__} is not valid for an order in {status.value!r}")
        self.status = status
        self.trigger = trigger


# --- rules that depend on quantities --------------------------------------------------------

_Rule: TypeAlias = Callable[["Order", Trigger], OrderStatus]
_Target: TypeAlias = OrderStatus | _Rule

_STAGE: Final = {_PS: 0, _SU: 0, _NS: 0, _PN: 1, _NW: 2, _PF: 3}


def _cum_after(order: Order, trigger: Trigger) -> Decimal:
    if type(trigger) is TradeReported and trigger.cum_qty is not None:
        return max(order.cum_qty, trigger.cum_qty)
    return order.cum_qty


def _order_qty_after(order: Order, trigger: Trigger) -> Decimal:
    if isinstance(trigger, AmendedReported | RestatedReported) and trigger.order_qty is not None:
        return trigger.order_qty
    return order.order_qty


def _at_least(floor: OrderStatus) -> _Rule:
    """Kraken shows the order working: at least `floor`, never backwards, then by quantity."""

    def rule(order: Order, trigger: Trigger) -> OrderStatus:
        cum = _cum_after(order, trigger)
        if cum > 0:
            return _FI if _complete(cum, _order_qty_after(order, trigger)) else _PF
        current = order.status
        return current if _STAGE.get(current, 0) >= _STAGE[floor] else floor

    rule.__qualname__ = rule.__name__ = f"at_least_{floor.value}"
    return rule


def _filled_or_stay(order: Order, trigger: Trigger) -> OrderStatus:
    """A trade after canceled/expired: the fill raced the close; complete means filled."""
    cum = _cum_after(order, trigger)
    return _FI if cum > 0 and _complete(cum, order.order_qty) else order.status


def _complete(cum: Decimal, order_qty: Decimal) -> bool:
    """Quantity says filled; never for an order_qty of 0, which is not known (an order sized
    in the quote currency): only Kraken's `filled` report completes it."""
    return order_qty > 0 and cum >= order_qty


_AT_LEAST_PN = _at_least(_PN)
_AT_LEAST_NW = _at_least(_NW)

# --- the table ------------------------------------------------------------------------------

_TRANSITIONS: Final[dict[tuple[OrderStatus, type[Trigger]], _Target]] = {
    # Sent: our own bookkeeping; never moves an order Kraken has already shown.
    (_PS, Sent): _SU,
    (_SU, Sent): _SU,
    (_PN, Sent): _PN,
    (_NW, Sent): _NW,
    (_PF, Sent): _PF,
    (_FI, Sent): _FI,
    (_CA, Sent): _CA,
    (_EX, Sent): _EX,
    # Acknowledged: Kraken validated the order; later stages only record the order id.
    (_PS, Acknowledged): _PN,
    (_SU, Acknowledged): _PN,
    (_NS, Acknowledged): _PN,  # Kraken has it after all
    (_PN, Acknowledged): _PN,
    (_NW, Acknowledged): _NW,
    (_PF, Acknowledged): _PF,
    (_FI, Acknowledged): _FI,
    (_CA, Acknowledged): _CA,
    (_EX, Acknowledged): _EX,
    # Rejected: only before Kraken showed the order (otherwise it is about another order).
    (_PS, Rejected): _RJ,
    (_SU, Rejected): _RJ,
    (_NS, Rejected): _RJ,  # a late refusal says more than "no trace"
    (_RJ, Rejected): _RJ,
    # OutcomeUnknown: ambiguity keeps the state, whatever it is.
    (_PS, OutcomeUnknown): _PS,
    (_SU, OutcomeUnknown): _SU,
    (_PN, OutcomeUnknown): _PN,
    (_NW, OutcomeUnknown): _NW,
    (_PF, OutcomeUnknown): _PF,
    (_FI, OutcomeUnknown): _FI,
    (_CA, OutcomeUnknown): _CA,
    (_EX, OutcomeUnknown): _EX,
    (_RJ, OutcomeUnknown): _RJ,
    (_NS, OutcomeUnknown): _NS,
    # NeverSent: only while Kraken has not shown the order.
    (_PS, NeverSent): _NS,
    (_SU, NeverSent): _NS,
    (_NS, NeverSent): _NS,
    # pending_new: may precede the ack; late after new is ignored.
    (_PS, PendingNewReported): _AT_LEAST_PN,
    (_SU, PendingNewReported): _AT_LEAST_PN,
    (_NS, PendingNewReported): _AT_LEAST_PN,
    (_PN, PendingNewReported): _AT_LEAST_PN,
    (_NW, PendingNewReported): _AT_LEAST_PN,
    (_PF, PendingNewReported): _AT_LEAST_PN,
    # new
    (_PS, NewReported): _AT_LEAST_NW,
    (_SU, NewReported): _AT_LEAST_NW,
    (_NS, NewReported): _AT_LEAST_NW,
    (_PN, NewReported): _AT_LEAST_NW,
    (_NW, NewReported): _AT_LEAST_NW,
    (_PF, NewReported): _AT_LEAST_NW,
    # trade: partially_filled or filled by quantity, whatever its order_status said.
    (_PS, TradeReported): _AT_LEAST_NW,
    (_SU, TradeReported): _AT_LEAST_NW,
    (_NS, TradeReported): _AT_LEAST_NW,
    (_PN, TradeReported): _AT_LEAST_NW,
    (_NW, TradeReported): _AT_LEAST_NW,
    (_PF, TradeReported): _AT_LEAST_NW,
    (_FI, TradeReported): _FI,  # a late trade report: quantities merge, status stays
    (_CA, TradeReported): _filled_or_stay,
    (_EX, TradeReported): _filled_or_stay,
    # filled
    (_PS, FilledReported): _FI,
    (_SU, FilledReported): _FI,
    (_NS, FilledReported): _FI,
    (_PN, FilledReported): _FI,
    (_NW, FilledReported): _FI,
    (_PF, FilledReported): _FI,
    (_FI, FilledReported): _FI,
    (_CA, FilledReported): _FI,  # fill raced the cancel
    (_EX, FilledReported): _FI,
    # canceled
    (_PS, CanceledReported): _CA,
    (_SU, CanceledReported): _CA,
    (_NS, CanceledReported): _CA,
    (_PN, CanceledReported): _CA,
    (_NW, CanceledReported): _CA,
    (_PF, CanceledReported): _CA,
    (_CA, CanceledReported): _CA,
    (_FI, CanceledReported): _FI,  # the fill won the race
    # expired
    (_PS, ExpiredReported): _EX,
    (_SU, ExpiredReported): _EX,
    (_NS, ExpiredReported): _EX,
    (_PN, ExpiredReported): _EX,
    (_NW, ExpiredReported): _EX,
    (_PF, ExpiredReported): _EX,
    (_EX, ExpiredReported): _EX,
    (_FI, ExpiredReported): _FI,
    # amended / restated / status: field updates on an order Kraken has.
    (_PS, AmendedReported): _AT_LEAST_PN,
    (_SU, AmendedReported): _AT_LEAST_PN,
    (_NS, AmendedReported): _AT_LEAST_PN,
    (_PN, AmendedReported): _AT_LEAST_PN,
    (_NW, AmendedReported): _AT_LEAST_PN,
    (_PF, AmendedReported): _AT_LEAST_PN,
    (_PS, RestatedReported): _AT_LEAST_PN,
    (_SU, RestatedReported): _AT_LEAST_PN,
    (_NS, RestatedReported): _AT_LEAST_PN,
    (_PN, RestatedReported): _AT_LEAST_PN,
    (_NW, RestatedReported): _AT_LEAST_PN,
    (_PF, RestatedReported): _AT_LEAST_PN,
    (_PS, StatusChangeReported): _AT_LEAST_PN,
    (_SU, StatusChangeReported): _AT_LEAST_PN,
    (_NS, StatusChangeReported): _AT_LEAST_PN,
    (_PN, StatusChangeReported): _AT_LEAST_PN,
    (_NW, StatusChangeReported): _AT_LEAST_PN,
    (_PF, StatusChangeReported): _AT_LEAST_PN,
}


def transition_table() -> dict[tuple[OrderStatus, type[Trigger]], _Target]:
    """A copy of the table, for tests and documentation generators."""
    return dict(_TRANSITIONS)


# --- field effects of each trigger ----------------------------------------------------------


def _effects(order: Order, trigger: Trigger, now: datetime) -> dict[str, Any]:
    """The fields a trigger sets besides the status; only those that actually change."""
    kind = type(trigger)
    if kind is TradeReported:
        cum = _cum_after(order, trigger)
        return {"cum_qty": cum} if cum != order.cum_qty else {}
    if kind is Acknowledged:
        assert isinstance(trigger, Acknowledged)
        changes: dict[str, Any] = {}
        if trigger.order_id and order.order_id is None:
            changes["order_id"] = trigger.order_id
        if order.acknowledged_at is None:
            changes["acknowledged_at"] = now
        return changes
    if kind is Sent:
        return {"sent_at": now} if order.sent_at is None else {}
    if kind is AmendedReported or kind is RestatedReported:
        assert isinstance(trigger, AmendedReported | RestatedReported)
        changes = {}
        if trigger.order_qty is not None and trigger.order_qty != order.order_qty:
            changes["order_qty"] = trigger.order_qty
        if trigger.limit_price is not None and trigger.limit_price != order.limit_price:
            changes["limit_price"] = trigger.limit_price
        if changes and kind is AmendedReported:
            # counted only when the terms change, so a duplicated report counts once
            changes["amend_count"] = order.amend_count + 1
        return changes
    if kind is Rejected or kind is NeverSent:
        assert isinstance(trigger, Rejected | NeverSent)
        reason = trigger.error if isinstance(trigger, Rejected) else trigger.reason
        return {"reason": reason} if reason and reason != order.reason else {}
    return {}


def apply(order: Order, trigger: Trigger, *, now: datetime) -> Order:
    """Return the order after `trigger`; the same object when nothing changed.

    Raises:
        InvalidTransition: the pair (order.status, type(trigger)) is not in the table. The
            order passed in is unchanged (it is immutable).
    """
    status = order.status
    target = _TRANSITIONS.get((status, type(trigger)))
    if target is None:
        raise InvalidTransition(status, trigger)
    if not isinstance(target, OrderStatus):
        target = target(order, trigger)
    changes = _effects(order, trigger, now)
    if target is not status:
        changes["status"] = target
        if target in TERMINAL:
            if status not in TERMINAL:
                changes["closed_at"] = now
        elif status in TERMINAL:
            changes["closed_at"] = None  # not_sent reopened by Kraken's evidence
    if not changes:
        return order
    changes["updated_at"] = now
    return order.evolve(changes)
