import pytest

from engine.kraken import ratelimit
from engine.kraken.ratelimit import RateCounter


def test_kraken_worked_example_adds_up_to_eight() -> None:
    # add (+1), amend 7 s later (+1 +2), cancel 36 s after the amend (+4) -> 8
    no_decay = ratelimit.Tier("frozen", 0.0, 1000, 1000)
    counter = RateCounter(no_decay, at=0.0)
    assert counter.apply(ratelimit.add_cost(), 0.0)
    assert counter.apply(ratelimit.amend_cost(7.0), 7.0)
    assert counter.apply(ratelimit.cancel_cost(36.0), 43.0)
    assert counter.value(43.0) == 8.0


@pytest.mark.parametrize(
    ("age", "amend", "edit", "cancel"),
    [
        (0.0, 4, 7, 8),
        (4.99, 4, 7, 8),
        (5.0, 3, 6, 6),
        (10.0, 2, 5, 5),
        (15.0, 1, 3, 4),
        (45.0, 1, 2, 2),
        (90.0, 1, 1, 1),
        (300.0, 1, 1, 0),
    ],
)
def test_age_brackets(age: float, amend: int, edit: int, cancel: int) -> None:
    assert ratelimit.amend_cost(age) == amend
    assert ratelimit.edit_cost(age) == edit
    assert ratelimit.cancel_cost(age) == cancel


def test_batch_costs() -> None:
    assert ratelimit.batch_add_cost(15) == 7.5
    assert ratelimit.batch_cancel_cost([1.0, 6.0, 400.0]) == 8 + 6 + 0


@pytest.mark.parametrize(
    ("name", "decay", "threshold", "max_open"),
    [
        ("starter", 1.0, 60, 60),
        ("intermediate", 2.34, 125, 80),
        ("pro", 3.75, 180, 225),
    ],
)
def test_tiers_decay_and_thresholds(name: str, decay: float, threshold: int, max_open: int) -> None:
    tier = ratelimit.tier(name)
    assert (tier.decay_per_s, tier.threshold, tier.max_open_orders) == (decay, threshold, max_open)
    counter = RateCounter(tier, value=50.0, at=100.0)
    assert counter.value(102.0) == pytest.approx(50.0 - 2 * decay)
    assert counter.value(10_000.0) == 0.0  # never negative
    assert counter.value(99.0) == 50.0  # clocks stepping back do not inflate it


def test_refusal_charges_only_the_fixed_cost() -> None:
    counter = RateCounter(ratelimit.tier("starter"), value=59.5, at=0.0)
    assert not counter.apply(ratelimit.amend_cost(1.0), 0.0, fixed=1.0)
    assert counter.value(0.0) == 60.5
    assert counter.would_exceed(1.0, 0.0)


def test_batch_cancel_is_accepted_past_the_maximum() -> None:
    counter = RateCounter(ratelimit.tier("starter"), value=59.0, at=0.0)
    assert counter.apply(ratelimit.batch_cancel_cost([0.0, 0.0]), 0.0, force=True)
    assert counter.value(0.0) == 75.0
    assert not counter.apply(1.0, 0.0)


def test_unlimited_never_refuses_and_unknown_tier_is_named() -> None:
    counter = RateCounter(ratelimit.tier("unlimited"))
    assert all(counter.apply(8.0, 0.0) for _ in range(10_000))
    with pytest.raises(ValueError, match="starter"):
        ratelimit.tier("gold")


def test_set_tier_keeps_decayed_value() -> None:
    counter = RateCounter(ratelimit.tier("starter"), value=10.0, at=0.0)
    counter.set_tier(ratelimit.tier("pro"), 2.0)
    assert counter.value(2.0) == 8.0
    assert counter.value(4.0) == pytest.approx(8.0 - 7.5)
