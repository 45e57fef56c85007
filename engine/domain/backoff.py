"""When to try connecting again: a jittered exponential schedule and Kraken's connection budget.

Kraken asks for an immediate retry after a random drop, and no more than ~150 connection
attempts per IP per rolling 10 minutes (Cloudflare bans the IP for 10 minutes past that,
kraken-spot-v2 §3.8). `Backoff` spaces the attempts of one outage; `ConnectionBudget` caps all
of them, however many outages there are. Times are float seconds from a monotonic clock, passed
in; randomness comes from an injected `random.Random`-like object.
"""

from __future__ import annotations

from collections import deque
from typing import Literal, Protocol

__all__ = ["Backoff", "ConnectionBudget", "Jitter", "RandomSource"]

Jitter = Literal["full", "decorrelated", "none"]

# Past this many doublings every sane cap has been reached; it keeps `**` from overflowing.
_MAX_EXPONENT = 64


class RandomSource(Protocol):
    """The part of `random.Random` the schedule uses."""

    def uniform(self, a: float, b: float) -> float: ...


class Backoff:
    """Delays between reconnection attempts: 0 first, then exponential with jitter, capped.

    Jitter keeps many engines (or one engine's restarts) from reconnecting in lockstep. "full"
    draws uniformly in [0, ceiling]; "decorrelated" (AWS) draws in [base, 3 x previous delay].
    `floor` bounds every delay after the first from below: Kraken asks for >= 5 s after a
    maintenance. Without an `rng` no jitter is applied and the ceiling is used, which makes the
    schedule deterministic; the engine passes one.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        *,
        multiplier: float = 2.0,
        jitter: Jitter = "full",
        rng: RandomSource | None = None,
        immediate_first: bool = True,
        floor: float = 0.0,
    ) -> None:
        if base <= 0 or cap < base or multiplier < 1 or floor < 0:
            raise ValueError("backoff needs 0 < base <= cap, multiplier >= 1 and floor >= 0")
        self.base = base
        self.cap = cap
        self.multiplier = multiplier
        self.jitter: Jitter = jitter
        self.immediate_first = immediate_first
        self.floor = floor
        self._rng = rng
        self._previous = base
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays `next_delay` has handed out since the last `reset`."""
        return self._attempt

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay before retry number `attempt` (0-based)."""
        if attempt <= 0 and self.immediate_first:
            return 0.0
        exponent = min(attempt - 1 if self.immediate_first else attempt, _MAX_EXPONENT)
        return min(self.cap, self.base * self.multiplier ** max(exponent, 0))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry of an outage).

        Decorrelated jitter remembers the previous delay; attempt 0 resets it.
        """
        if attempt <= 0:
            self._previous = self.base
            if self.immediate_first:
                return 0.0
        ceiling = self.ceiling(attempt)
        rng = self._rng
        if self.jitter == "none" or rng is None:
            value = ceiling
        elif self.jitter == "full":
            value = rng.uniform(0.0, ceiling)
        else:
            value = min(self.cap, rng.uniform(self.base, max(self.base, self._previous * 3)))
            self._previous = value
        return min(self.cap, max(self.floor, value))

    def next_delay(self) -> float:
        """The delay for the next attempt of the current outage."""
        value = self.delay(self._attempt)
        self._attempt += 1
        return value

    def reset(self) -> None:
        """The connection is up again: the next outage starts with an immediate retry."""
        self._attempt = 0
        self._previous = self.base


class ConnectionBudget:
    """At most `max_attempts` connection attempts in any rolling `window` seconds.

    The default (120 per 600 s) leaves a margin under Cloudflare's ~150 per 10 minutes for
    other processes on the same IP and for attempts we cannot see (a retry inside a library).
    """

    def __init__(self, max_attempts: int = 120, window: float = 600.0) -> None:
        if max_attempts < 1 or window <= 0:
            raise ValueError("a connection budget needs max_attempts >= 1 and window > 0")
        self.max_attempts = max_attempts
        self.window = window
        self._attempts: deque[float] = deque()

    def record(self, now: float) -> None:
        """An attempt is being made at `now` (monotonic seconds, never decreasing)."""
        self._forget_before(now - self.window)
        self._attempts.append(now)

    def next_allowed(self, now: float) -> float:
        """The earliest time >= `now` at which one more attempt stays within the budget."""
        in_window = [t for t in self._attempts if t > now - self.window]
        excess = len(in_window) - self.max_attempts
        if excess < 0:
            return now
        # the attempt that must leave the window before one more fits
        return max(now, in_window[excess] + self.window)

    def remaining(self, now: float) -> int:
        """Attempts still allowed at `now`."""
        used = sum(1 for t in self._attempts if t > now - self.window)
        return max(0, self.max_attempts - used)

    def _forget_before(self, cutoff: float) -> None:
        attempts = self._attempts
        while attempts and attempts[0] <= cutoff:
            attempts.popleft()
