"""Reconciliation decisions: what an order with no trace on the exchange means, and when.

Theory of operation. An order sent without an acknowledgement may be live, filled, cancelled or
never placed. REST shows the first three; the last can only be concluded from absence, and
absence proves something only once (a) Kraken can no longer match the order, because its
`deadline` (or, without one, the request timeout) has passed, and (b) REST has had time to catch
up with the socket, which it can lag by seconds. Until then the order stays in flight and the
engine looks again at the earliest moment one of them can be settled. Pure: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.domain.order import Order

__all__ = ["NeverPlacedPolicy", "Settlement", "settle_unseen"]


@dataclass(frozen=True, slots=True)
class NeverPlacedPolicy:
    request_timeout: float
    order_deadline: float = 0.0
    rest_lag: float = 10.0

    def after(self, order: Order) -> datetime:
        """The moment an order with no trace anywhere may be concluded never placed."""
        sent = order.sent_at or order.created_at
        wait = max(self.request_timeout, self.order_deadline) + self.rest_lag
        return sent + timedelta(seconds=wait)


@dataclass(frozen=True, slots=True)
class Settlement:
    never_placed: tuple[Order, ...]
    look_again_at: datetime | None


def settle_unseen(
    live: Iterable[Order], seen: Collection[int], taken_at: datetime, policy: NeverPlacedPolicy
) -> Settlement:
    """Of the orders still in flight (no Kraken id) that a snapshot did not mention, those that
    are now provably never placed, and when to look again for the others."""
    never: list[Order] = []
    again: datetime | None = None
    for order in live:
        if order.order_id is not None or order.pk in seen:
            continue
        horizon = policy.after(order)
        if taken_at >= horizon:
            never.append(order)
        elif again is None or horizon < again:
            again = horizon
    return Settlement(tuple(never), again)
