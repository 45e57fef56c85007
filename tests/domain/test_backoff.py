"""Reconnect schedule and connection budget, with a seeded rng and explicit times."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.backoff import Backoff, ConnectionBudget


class MaxRandom:
    """Always the top of the range: the schedule's ceiling, visible in the numbers."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_first_retry_is_immediate_then_exponential_and_capped() -> None:
    backoff = Backoff(base=0.5, cap=4.0, jitter="none")
    assert [backoff.next_delay() for _ in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.attempt == 7


def test_reset_starts_a_new_outage_with_an_immediate_retry() -> None:
    backoff = Backoff(base=1.0, cap=8.0, jitter="none")
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert (backoff.next_delay(), backoff.next_delay()) == (0.0, 1.0)


def test_full_jitter_stays_under_the_ceiling() -> None:
    rng = random.Random(7)
    backoff = Backoff(base=0.5, cap=10.0, jitter="full", rng=rng)
    for attempt in range(1, 30):
        assert 0.0 <= backoff.delay(attempt) <= backoff.ceiling(attempt)
    top = Backoff(base=0.5, cap=10.0, jitter="full", rng=MaxRandom())
    assert [top.delay(a) for a in range(5)] == [0.0, 0.5, 1.0, 2.0, 4.0]


def test_same_seed_same_schedule() -> None:
    def schedule(seed: int) -> list[float]:
        backoff = Backoff(jitter="decorrelated", rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(10)]

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)


def test_decorrelated_jitter_grows_from_the_previous_delay() -> None:
    backoff = Backoff(base=1.0, cap=20.0, jitter="decorrelated", rng=MaxRandom())
    assert [backoff.next_delay() for _ in range(5)] == [0.0, 3.0, 9.0, 20.0, 20.0]
    assert backoff.delay(0) == 0.0  # attempt 0 resets the memory
    assert backoff.delay(1) == 3.0


def test_floor_spaces_retries_after_maintenance() -> None:
    backoff = Backoff(base=0.5, cap=60.0, jitter="full", rng=random.Random(1), floor=5.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays[0] == 0.0
    assert all(d >= 5.0 for d in delays[1:])


def test_without_immediate_first_the_base_comes_first() -> None:
    backoff = Backoff(base=2.0, cap=10.0, jitter="none", immediate_first=False)
    assert [backoff.next_delay() for _ in range(4)] == [2.0, 4.0, 8.0, 10.0]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(base=1.0, cap=30.0, jitter="none").delay(10_000) == 30.0


@pytest.mark.parametrize(
    "kwargs", [{"base": 0.0}, {"base": 2.0, "cap": 1.0}, {"multiplier": 0.5}, {"floor": -1.0}]
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


@given(st.integers(0, 10_000), st.sampled_from(["full", "decorrelated", "none"]))
def test_every_delay_is_within_zero_and_cap(seed: int, jitter: str) -> None:
    backoff = Backoff(base=0.25, cap=15.0, jitter=jitter, rng=random.Random(seed))  # type: ignore[arg-type]
    for _ in range(20):
        assert 0.0 <= backoff.next_delay() <= 15.0


# --- budget ---------------------------------------------------------------------------------


def test_default_budget_is_120_per_ten_minutes() -> None:
    budget = ConnectionBudget()
    assert (budget.max_attempts, budget.window) == (120, 600.0)


def test_budget_allows_up_to_the_limit_then_waits_for_the_oldest() -> None:
    budget = ConnectionBudget(max_attempts=3, window=10.0)
    for t in (0.0, 1.0, 2.0):
        assert budget.next_allowed(t) == t
        budget.record(t)
    assert budget.remaining(2.0) == 0
    assert budget.next_allowed(3.0) == 10.0  # when the attempt at 0.0 leaves the window
    assert budget.next_allowed(10.0) == 10.0
    budget.record(10.0)
    assert budget.next_allowed(10.5) == 11.0
    assert budget.remaining(30.0) == 3


def test_budget_never_sends_more_than_the_limit_in_any_window() -> None:
    budget = ConnectionBudget(max_attempts=5, window=60.0)
    now = 0.0
    attempts: list[float] = []
    for _ in range(40):  # a connection that fails at once, retried as fast as allowed
        now = budget.next_allowed(now)
        budget.record(now)
        attempts.append(now)
    for start in attempts:
        assert sum(1 for t in attempts if start <= t < start + 60.0) <= 5


def test_budget_asked_about_the_past_is_not_confused_by_pruning() -> None:
    budget = ConnectionBudget(max_attempts=2, window=10.0)
    budget.record(0.0)
    budget.record(1.0)
    assert budget.next_allowed(20.0) == 20.0
    assert budget.next_allowed(5.0) == 10.0


@pytest.mark.parametrize(("n", "window"), [(0, 10.0), (3, 0.0)])
def test_budget_refuses_nonsense(n: int, window: float) -> None:
    with pytest.raises(ValueError):
        ConnectionBudget(n, window)
