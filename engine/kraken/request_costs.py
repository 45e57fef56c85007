"""What each trading request costs on Kraken's per-pair counter, for the engine's throttle.

The domain policy (`engine.domain.throttle`) knows queues and priorities but not Kraken's
tables; the simulator's model (`engine.kraken.ratelimit`) knows the tables but not requests.
This is the one place that joins them, so the engine and the simulator charge identically.
"""

from __future__ import annotations

from functools import partial

from engine.domain.throttle import Throttle, Touch, age
from engine.kraken import ratelimit

__all__ = ["make_throttle", "price"]


def price(method: str, touches: tuple[Touch, ...], now: float) -> dict[str, float]:
    """Kraken's cost of `method` on each pair it touches, at `now` (§7.9)."""
    costs: dict[str, float] = {}
    for touch in touches:
        if method == "add_order":
            cost = ratelimit.add_cost()
        elif method == "batch_add":
            cost = ratelimit.batch_add_cost(1)  # n/2 for n orders: 1/2 each
        elif method == "amend_order":
            cost = ratelimit.amend_cost(age(touch, now))
        elif method == "edit_order":
            cost = ratelimit.edit_cost(age(touch, now))
        elif method in ("cancel_order", "batch_cancel"):
            cost = ratelimit.cancel_cost(age(touch, now))
        else:
            continue
        costs[touch.symbol] = costs.get(touch.symbol, 0.0) + cost
    return costs


def make_throttle(tier_name: str, timeout: float, jitter_s: float = 0.5) -> Throttle:
    """A throttle under one of Kraken's tiers (`starter`, `intermediate`, `pro`, `unlimited`).

    `jitter_s` is how much faster one request may reach Kraken than those before it; the
    throttle keeps that much decay (at least one point) free. 0 makes it exact.
    """
    tier = ratelimit.tier(tier_name)
    headroom = max(1.0, tier.decay_per_s * jitter_s) if jitter_s > 0 else 0.0
    return Throttle(
        threshold=tier.threshold,
        decay_per_s=tier.decay_per_s,
        new_counter=partial(ratelimit.RateCounter, tier, 0.0),
        price=price,
        timeout=timeout,
        headroom=headroom if tier_name != "unlimited" else 0.0,
    )
