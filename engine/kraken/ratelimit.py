"""Kraken's per-pair trading rate counter (Spot Trading Limits, reference §7.9), as pure data.

Kraken keeps one counter per client per pair, shared by REST, WebSocket and FIX. Every
transaction adds a fixed cost plus, for cancels, amends and edits, a penalty that shrinks with
the age of the order it touches (seconds since creation or last amend); the counter decays
linearly per second and a transaction that would lift it above the tier's threshold is refused
with `EOrder:Rate limit exceeded`. Batch cancels are the exception: accepted past the maximum.

No clock is read here: every call takes `now` (float seconds), so the simulator and the engine
can share the model and tests can replay Kraken's worked example exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "TIERS",
    "RateCounter",
    "Tier",
    "add_cost",
    "amend_cost",
    "batch_add_cost",
    "batch_cancel_cost",
    "cancel_cost",
    "edit_cost",
    "tier",
]


@dataclass(frozen=True, slots=True)
class Tier:
    """One verification tier: counter decay per second, refusal threshold, open-order cap."""

    name: str
    decay_per_s: float
    threshold: int
    max_open_orders: int


TIERS: dict[str, Tier] = {
    "starter": Tier("starter", 1.0, 60, 60),
    "intermediate": Tier("intermediate", 2.34, 125, 80),
    "pro": Tier("pro", 3.75, 180, 225),
    # Not a Kraken tier: load tests and benchmarks measure us, not the venue's throttle.
    "unlimited": Tier("unlimited", 1_000_000.0, 1_000_000_000, 1_000_000_000),
}


def tier(name: str) -> Tier:
    """Look a tier up by name; `ValueError` names the valid ones."""
    try:
        return TIERS[name]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; expected one of {sorted(TIERS)}") from None


# Age brackets (upper bounds in seconds, exclusive) and the penalty inside each bracket.
_BRACKETS = (5.0, 10.0, 15.0, 45.0, 90.0, 300.0)
_AMEND_PENALTY = (3, 2, 1, 0, 0, 0)
_EDIT_PENALTY = (6, 5, 4, 2, 1, 0)
_CANCEL_PENALTY = (8, 6, 5, 4, 2, 1)


def _penalty(table: Sequence[int], age_s: float) -> int:
    for bound, penalty in zip(_BRACKETS, table, strict=True):
        if age_s < bound:
            return penalty
    return 0


def add_cost() -> float:
    """Add order: +1, whatever happens next."""
    return 1.0


def amend_cost(age_s: float) -> float:
    """Amend: +1 fixed, +3/+2/+1 when the order is younger than 5/10/15 s."""
    return 1.0 + _penalty(_AMEND_PENALTY, age_s)


def edit_cost(age_s: float) -> float:
    """Edit (cancel-and-replace): +1 fixed plus a penalty up to 90 s of age."""
    return 1.0 + _penalty(_EDIT_PENALTY, age_s)


def cancel_cost(age_s: float) -> float:
    """Cancel: no fixed cost, +8 down to +1 for orders younger than 300 s."""
    return float(_penalty(_CANCEL_PENALTY, age_s))


def batch_add_cost(n: int) -> float:
    """Batch add: +n/2 for n orders."""
    return n / 2.0


def batch_cancel_cost(ages_s: Iterable[float]) -> float:
    """Batch cancel: the cancel penalty of every order in the batch."""
    return sum(cancel_cost(age) for age in ages_s)


class RateCounter:
    """One counter (one client, one pair) under a tier; values decay between calls.

    `apply` is the whole protocol: it decays to `now`, then either adds `cost` (accepted) or
    only `fixed` (refused), mirroring Kraken charging fixed costs even for refused requests.
    """

    __slots__ = ("_at", "_tier", "_value")

    def __init__(self, tier: Tier, value: float = 0.0, at: float = 0.0) -> None:
        self._tier = tier
        self._value = value
        self._at = at

    @property
    def tier(self) -> Tier:
        return self._tier

    def set_tier(self, tier: Tier, now: float) -> None:
        """Switch tier keeping the current (decayed) value."""
        self._decay(now)
        self._tier = tier

    def value(self, now: float) -> float:
        """The counter at `now`, after decay (never below zero)."""
        elapsed = max(0.0, now - self._at)
        return max(0.0, self._value - self._tier.decay_per_s * elapsed)

    def _decay(self, now: float) -> None:
        if now > self._at:
            self._value = self.value(now)
            self._at = now

    def would_exceed(self, cost: float, now: float) -> bool:
        """True when adding `cost` at `now` lifts the counter above the threshold."""
        return self.value(now) + cost > self._tier.threshold

    def apply(self, cost: float, now: float, *, fixed: float = 0.0, force: bool = False) -> bool:
        """Charge a transaction; returns False (charging only `fixed`) when it must be refused.

        `force` accepts it past the threshold (Kraken's rule for batch cancels).
        """
        self._decay(now)
        if force or self._value + cost <= self._tier.threshold:
            self._value += cost
            return True
        self._value += fixed
        return False
