"""Admission policy for Kraken's per-pair trading counter: send now, wait, or coalesce.

Theory of operation. Kraken refuses (`EOrder:Rate limit exceeded`) a transaction that would lift
a pair's counter above the tier's threshold (reference §7.9); a refused order is a lost order
and a refused cancel is a live order the strategy wanted gone. So the engine prices every
request before it leaves, with the same pure model the simulator uses
(`engine.kraken.ratelimit`, wired in by `engine.kraken.request_costs`, since the domain does not
import the protocol layer), from the age of each order it touches, and:

- new orders and amends (`add_order`, `batch_add`, `amend_order`, `edit_order`) wait in a
  first-in, first-out queue per pair until the counter has decayed enough, at most
  `timeout` seconds, after which they expire (the caller gets `NotSent`);
- cancels never wait behind the counter and always go ahead of the queue: one that fits is sent
  at once; those that would overflow are collected until the next `flush` (the actor flushes
  as soon as the messages already in its mailbox are handled, so the wait is that of the
  mailbox, never of the counter) and coalesced, per pair, into `batch_cancel`s of 2 to 50 ids,
  which Kraken accepts past the maximum. A lone single-id cancel that would overflow is sent as
  a plain `cancel_order` anyway: a possible refusal is better than holding a cancel;
- everything without a per-pair cost (`cancel_all`, `cancel_all_orders_after`) passes.

An `EOrder:Rate limit exceeded` answer means our model fell behind the venue (another client
of the same account, or a restart with a hot counter): `snap` lifts the pair's counter to its
maximum, which holds that pair's new orders until it has decayed.

Ages are taken conservatively: an order's reference time is when Kraken acknowledged it (or
last amended it), never earlier, and `AGE_MARGIN_S` is taken off every age, so that the engine
never thinks an order older, and a cancel cheaper, than Kraken does.

Nothing here reads a clock: every call takes `now` (seconds, same base as the touch times).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "AGE_MARGIN_S",
    "MAX_BATCH_CANCEL",
    "Coalesce",
    "Decision",
    "Expire",
    "Queued",
    "Send",
    "Throttle",
    "Ticket",
    "Touch",
    "Warn",
    "age",
]

AGE_MARGIN_S = 0.5
MAX_BATCH_CANCEL = 50
WARN_FRACTION = 0.8

_PLACE = frozenset({"add_order", "batch_add"})
_AMEND = frozenset({"amend_order", "edit_order"})
_CANCEL = frozenset({"cancel_order", "batch_cancel"})


@dataclass(frozen=True, slots=True)
class Touch:
    """One order a request concerns: its pair and when it was created or last amended.

    `touched_at` is None for an order not placed yet (an add) or one Kraken has not
    acknowledged (priced as brand new: the dearest case).
    """

    symbol: str
    touched_at: float | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """One request as the policy sees it; `ids` counts the identifiers of a cancel."""

    key: int
    method: str
    touches: tuple[Touch, ...]
    queued_at: float
    ids: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    """Send this request now (`forced`: past the maximum, e.g. a lone cancel)."""

    key: int
    waited_s: float = 0.0
    forced: bool = False


@dataclass(frozen=True, slots=True)
class Coalesce:
    """Send these cancels (all of one pair) as one `batch_cancel`."""

    keys: tuple[int, ...]
    symbol: str


@dataclass(frozen=True, slots=True)
class Expire:
    """Waited past the timeout: never sent."""

    key: int
    waited_s: float


@dataclass(frozen=True, slots=True)
class Queued:
    """The request waits; `wait_s` is the estimate from the counter and the queue ahead."""

    key: int
    symbol: str
    wait_s: float
    ahead: int


@dataclass(frozen=True, slots=True)
class Warn:
    """A pair's counter crossed `WARN_FRACTION` of its maximum."""

    symbol: str
    value: float
    threshold: float


Decision = Send | Coalesce | Expire | Queued | Warn


def age(touch: Touch, now: float) -> float:
    """The age to price a touch by: never older than Kraken may think (`AGE_MARGIN_S` off)."""
    if touch.touched_at is None:
        return 0.0
    return max(0.0, now - touch.touched_at - AGE_MARGIN_S)


class Counter(Protocol):
    """One pair's counter (`engine.kraken.ratelimit.RateCounter`)."""

    def value(self, now: float) -> float: ...

    def would_exceed(self, cost: float, now: float) -> bool: ...

    def apply(
        self, cost: float, now: float, *, fixed: float = 0.0, force: bool = False
    ) -> bool: ...


# (method, touches, now) -> cost per pair
Price = Callable[[str, tuple[Touch, ...], float], dict[str, float]]


def _home(ticket: Ticket) -> str:
    return ticket.touches[0].symbol if ticket.touches else ""


@dataclass(slots=True)
class _Pair:
    counter: Counter
    waiting: deque[Ticket] = field(default_factory=deque)
    cancels: list[Ticket] = field(default_factory=list)
    warned: bool = False


class Throttle:
    """Per-pair counters and queues for one account under one tier.

    Args:
        threshold / decay_per_s: the tier's maximum and decay (for estimates and warnings).
        new_counter: a fresh, empty counter at `now` (one per pair).
        price: the cost of a request on each pair it touches.
        timeout: seconds a new order or amend may wait before it expires.
        headroom: points kept free below the threshold for what is not forced. Kraken charges
            a request when it arrives, not when we send it; when one request travels faster
            than those before it, Kraken's counter has decayed less than ours. The headroom
            absorbs that jitter (`make_throttle` sizes it as half a second of decay, at least 1).
    """

    def __init__(
        self,
        *,
        threshold: float,
        decay_per_s: float,
        new_counter: Callable[[float], Counter],
        price: Price,
        timeout: float,
        headroom: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.headroom = headroom
        self.decay_per_s = decay_per_s
        self._new_counter = new_counter
        self._price = price
        self.timeout = timeout
        self._pairs: dict[str, _Pair] = {}
        self.flush_wanted = False

    # -- the counter ------------------------------------------------------------------------

    def _pair(self, symbol: str, now: float) -> _Pair:
        pair = self._pairs.get(symbol)
        if pair is None:
            pair = self._pairs[symbol] = _Pair(self._new_counter(now))
        return pair

    def value(self, symbol: str, now: float) -> float:
        pair = self._pairs.get(symbol)
        return 0.0 if pair is None else pair.counter.value(now)

    def waiting(self, symbol: str | None = None) -> int:
        """How many requests wait (new orders and amends, plus cancels awaiting a flush)."""
        pairs = self._pairs.values() if symbol is None else [self._pairs.get(symbol)]
        return sum(len(p.waiting) + len(p.cancels) for p in pairs if p is not None)

    def held_cancels(self, symbol: str) -> int:
        pair = self._pairs.get(symbol)
        return 0 if pair is None else len(pair.cancels)

    def _fits(self, costs: dict[str, float], now: float) -> bool:
        return all(
            not self._pair(symbol, now).counter.would_exceed(cost + self.headroom, now)
            for symbol, cost in costs.items()
        )

    def _charge(
        self, costs: dict[str, float], now: float, out: list[Decision], *, force: bool = False
    ) -> None:
        for symbol, cost in costs.items():
            pair = self._pair(symbol, now)
            pair.counter.apply(cost, now, force=force)
            value = pair.counter.value(now)
            if value >= WARN_FRACTION * self.threshold:
                if not pair.warned:
                    pair.warned = True
                    out.append(Warn(symbol, value, self.threshold))
            else:
                pair.warned = False

    def snap(self, symbol: str, now: float, fixed: float = 0.0) -> None:
        """Kraken said the counter is full: believe it, plus the refused request's fixed cost,
        which Kraken charges even when it refuses."""
        counter = self._pair(symbol, now).counter
        gap = self.threshold + fixed - counter.value(now)
        if gap > 0:
            counter.apply(gap, now, force=True)

    # -- requests ---------------------------------------------------------------------------

    def offer(self, ticket: Ticket, now: float) -> list[Decision]:
        """A request arrives: send it, queue it, or hold it (cancels) for the next flush."""
        out: list[Decision] = []
        if not ticket.touches or ticket.method not in _PLACE | _AMEND | _CANCEL:
            out.append(Send(ticket.key))
            return out
        symbol = _home(ticket)
        pair = self._pair(symbol, now)
        costs = self._price(ticket.method, ticket.touches, now)
        if ticket.method in _CANCEL:
            if not pair.cancels and self._fits(costs, now):
                self._charge(costs, now, out)
                out.append(Send(ticket.key))
            else:
                pair.cancels.append(ticket)
                self.flush_wanted = True
            return out
        if not pair.waiting and not pair.cancels and self._fits(costs, now):
            self._charge(costs, now, out)
            out.append(Send(ticket.key))
            return out
        pair.waiting.append(ticket)
        out.append(Queued(ticket.key, symbol, self._estimate(pair, now), len(pair.waiting) - 1))
        return out

    def _estimate(self, pair: _Pair, now: float) -> float:
        """Seconds until the last ticket of the queue fits, if nothing else is charged."""
        total = sum(sum(self._price(t.method, t.touches, now).values()) for t in pair.waiting)
        excess = pair.counter.value(now) + total + self.headroom - self.threshold
        return max(0.0, excess / self.decay_per_s)

    def flush(self, now: float) -> list[Decision]:
        """Send the held cancels: those that fit one by one, the rest coalesced per pair."""
        self.flush_wanted = False
        out: list[Decision] = []
        for symbol, pair in self._pairs.items():
            if not pair.cancels:
                continue
            held, pair.cancels = pair.cancels, []
            overflow: list[Ticket] = []
            for ticket in held:
                costs = self._price(ticket.method, ticket.touches, now)
                if not overflow and self._fits(costs, now):
                    self._charge(costs, now, out)
                    out.append(Send(ticket.key, now - ticket.queued_at))
                else:
                    overflow.append(ticket)
            for group in _groups(overflow):
                batch_costs: dict[str, float] = {}
                for ticket in group:
                    for s, c in self._price("batch_cancel", ticket.touches, now).items():
                        batch_costs[s] = batch_costs.get(s, 0.0) + c
                self._charge(batch_costs, now, out, force=True)
                if sum(t.ids for t in group) >= 2 and group[0].ids <= MAX_BATCH_CANCEL:
                    out.append(Coalesce(tuple(t.key for t in group), symbol))
                else:
                    out.append(Send(group[0].key, now - group[0].queued_at, forced=True))
            if pair.waiting:
                out.extend(self._serve(pair, now))
        return out

    def poll(self, now: float) -> list[Decision]:
        """Time passed: expire what waited too long, send what now fits."""
        out: list[Decision] = []
        if self.flush_wanted:
            out.extend(self.flush(now))
        for pair in self._pairs.values():
            if pair.waiting:
                out.extend(self._serve(pair, now))
        return out

    def _serve(self, pair: _Pair, now: float) -> list[Decision]:
        out: list[Decision] = []
        if pair.cancels:
            return out  # held cancels go first
        kept: deque[Ticket] = deque()
        for ticket in pair.waiting:
            if now - ticket.queued_at >= self.timeout:
                out.append(Expire(ticket.key, now - ticket.queued_at))
            else:
                kept.append(ticket)
        pair.waiting = kept
        while pair.waiting:
            ticket = pair.waiting[0]
            costs = self._price(ticket.method, ticket.touches, now)
            if not self._fits(costs, now):
                break
            pair.waiting.popleft()
            self._charge(costs, now, out)
            out.append(Send(ticket.key, now - ticket.queued_at))
        return out

    def next_wake(self, now: float) -> float | None:
        """When `poll` next has something to do (a head that fits, or an expiry)."""
        wake: float | None = now if self.flush_wanted else None
        for pair in self._pairs.values():
            if not pair.waiting:
                continue
            head = pair.waiting[0]
            costs = self._price(head.method, head.touches, now)
            fits_at = now
            for symbol, cost in costs.items():
                value = self._pair(symbol, now).counter.value(now)
                excess = value + cost + self.headroom - self.threshold
                fits_at = max(fits_at, now + max(0.0, excess) / self.decay_per_s)
            expires_at = min(t.queued_at for t in pair.waiting) + self.timeout
            at = min(fits_at, expires_at)
            wake = at if wake is None else min(wake, at)
        return wake


def _groups(tickets: list[Ticket]) -> list[list[Ticket]]:
    """Cut cancels into batches of at most `MAX_BATCH_CANCEL` ids, keeping request boundaries.

    A lone request ending up alone in its group is sent as itself; one with more ids than a
    batch holds is also sent as itself (Kraken takes any number of ids in `cancel_order`).
    """
    groups: list[list[Ticket]] = []
    current: list[Ticket] = []
    count = 0
    for ticket in tickets:
        if ticket.ids > MAX_BATCH_CANCEL:
            groups.append([ticket])
            continue
        if count + ticket.ids > MAX_BATCH_CANCEL:
            groups.append(current)
            current, count = [], 0
        current.append(ticket)
        count += ticket.ids
    if current:
        groups.append(current)
    # never leave a single id alone after a full batch: borrow one from the batch before it
    if (
        len(groups) >= 2
        and len(groups[-1]) == 1
        and groups[-1][0].ids == 1
        and len(groups[-2]) >= 3
        and groups[-2][-1].ids == 1
    ):
        groups[-1].insert(0, groups[-2].pop())
    return groups
