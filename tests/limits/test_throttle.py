"""The throttle policy against worked examples from Kraken's published costs and decay (§7.9).

Time is a plain float passed in; no clock, no sleeping.
"""

from __future__ import annotations

from functools import partial

import pytest

from engine.domain.throttle import (
    AGE_MARGIN_S,
    Coalesce,
    Decision,
    Expire,
    Queued,
    Send,
    Throttle,
    Ticket,
    Touch,
    Warn,
)
from engine.kraken import ratelimit
from engine.kraken.request_costs import make_throttle, price

PAIR = "BTC/USD"
T0 = 1_000_000.0


class Desk:
    """Builds tickets with increasing keys, as the actor does."""

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.key = 0

    def ticket(
        self, method: str, now: float, *ages: float | None, symbol: str = PAIR, ids: int = 0
    ) -> Ticket:
        self.key += 1
        touches = tuple(Touch(symbol, None if a is None else now - a) for a in ages)
        if method == "add_order" and not touches:
            touches = (Touch(symbol),)
        if method in ("cancel_order", "batch_cancel") and not ids:
            ids = len(touches)
        return Ticket(self.key, method, touches, now, ids)

    def offer(self, method: str, now: float, *ages: float | None, **kw: object) -> list[Decision]:
        return self.throttle.offer(self.ticket(method, now, *ages, **kw), now)  # type: ignore[arg-type]

    def fill(self, n: int, now: float) -> None:
        for _ in range(n):
            assert _sends(self.offer("add_order", now)) == 1


def _sends(decisions: list[Decision]) -> int:
    return sum(isinstance(d, Send) for d in decisions)


def _frozen(threshold: int = 60) -> Throttle:
    """No decay: costs add up exactly, as in Kraken's worked example."""
    tier = ratelimit.Tier("frozen", 0.0, threshold, 60)
    return Throttle(
        threshold=threshold,
        decay_per_s=0.0,
        new_counter=partial(ratelimit.RateCounter, tier, 0.0),
        price=price,
        timeout=60.0,
    )


# -- prices ------------------------------------------------------------------------------------

# ages chosen inside each bracket, clear of the safety margin
CANCEL = [(1, 8), (7, 6), (12, 5), (30, 4), (60, 2), (200, 1), (400, 0)]
AMEND = [(1, 4), (7, 3), (12, 2), (30, 1), (400, 1)]
EDIT = [(1, 7), (7, 6), (12, 5), (30, 3), (60, 2), (200, 1)]


@pytest.mark.parametrize(("age", "cost"), CANCEL)
def test_cancel_costs_by_age(age: float, cost: float) -> None:
    assert price("cancel_order", (Touch(PAIR, T0 - age),), T0) == {PAIR: cost}


@pytest.mark.parametrize(("age", "cost"), AMEND)
def test_amend_costs_by_age(age: float, cost: float) -> None:
    assert price("amend_order", (Touch(PAIR, T0 - age),), T0) == {PAIR: cost}


@pytest.mark.parametrize(("age", "cost"), EDIT)
def test_edit_costs_by_age(age: float, cost: float) -> None:
    assert price("edit_order", (Touch(PAIR, T0 - age),), T0) == {PAIR: cost}


def test_add_batch_add_and_batch_cancel_costs() -> None:
    assert price("add_order", (Touch(PAIR),), T0) == {PAIR: 1}
    assert price("batch_add", tuple(Touch(PAIR) for _ in range(7)), T0) == {PAIR: 3.5}
    ages = (Touch(PAIR, T0 - 1), Touch(PAIR, T0 - 30), Touch("ETH/USD", T0 - 12))
    assert price("batch_cancel", ages, T0) == {PAIR: 8 + 4, "ETH/USD": 5}
    assert price("cancel_all", (), T0) == {}


def test_ages_err_young_near_a_bracket_edge() -> None:
    # 5.2 s after our acknowledgement Kraken may see 4.9 s: price the dearer bracket
    assert price("cancel_order", (Touch(PAIR, T0 - 5.2),), T0) == {PAIR: 8}
    assert price("cancel_order", (Touch(PAIR, T0 - 5 - AGE_MARGIN_S),), T0) == {PAIR: 6}
    # not acknowledged yet: as young as it gets
    assert price("cancel_order", (Touch(PAIR, None),), T0) == {PAIR: 8}


def test_krakens_worked_example_adds_up_to_8() -> None:
    # add (+1), amend at 7 s (+1 +2), cancel 36 s later (+4) -> 8
    desk = Desk(_frozen())
    assert _sends(desk.offer("add_order", T0)) == 1
    assert _sends(desk.offer("amend_order", T0 + 7, 7)) == 1
    assert _sends(desk.offer("cancel_order", T0 + 43, 36)) == 1
    assert desk.throttle.value(PAIR, T0 + 43) == 8


# -- decay and each tier -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "threshold", "decay"),
    [("starter", 60, 1.0), ("intermediate", 125, 2.34), ("pro", 180, 3.75)],
)
def test_each_tier_queues_at_its_maximum_and_sends_after_decay(
    tier: str, threshold: int, decay: float
) -> None:
    desk = Desk(make_throttle(tier, timeout=60, jitter_s=0))
    desk.fill(threshold, T0)
    assert desk.throttle.value(PAIR, T0) == threshold
    decisions = desk.offer("add_order", T0)
    queued = [d for d in decisions if isinstance(d, Queued)]
    assert len(queued) == 1 and queued[0].wait_s == pytest.approx(1 / decay)
    assert desk.throttle.next_wake(T0) == pytest.approx(T0 + 1 / decay)
    assert _sends(desk.throttle.poll(T0 + 0.99 / decay)) == 0
    sent = desk.throttle.poll(T0 + 1 / decay)
    assert [type(d) for d in sent] == [Send]
    assert isinstance(sent[0], Send) and sent[0].waited_s == pytest.approx(1 / decay)
    # the counter decays linearly: 10 s later it is 10 * decay lower
    assert desk.throttle.value(PAIR, T0 + 1 / decay + 10) == pytest.approx(threshold - 10 * decay)


def test_starter_burst_of_100_sends_60_then_one_per_second() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    decisions: list[Decision] = []
    for _ in range(100):
        decisions += desk.offer("add_order", T0)
    assert _sends(decisions) == 60
    waits = [d.wait_s for d in decisions if isinstance(d, Queued)]
    assert waits == pytest.approx([float(n) for n in range(1, 41)])
    sent_by = {s: _sends(desk.throttle.poll(T0 + s)) for s in (0.5, 1, 10, 39.9, 40)}
    assert sent_by == {0.5: 0, 1: 1, 10: 9, 39.9: 29, 40: 1}
    assert desk.throttle.waiting() == 0


def test_an_order_waiting_past_the_timeout_expires_and_the_rest_still_go() -> None:
    desk = Desk(make_throttle("starter", timeout=3, jitter_s=0))
    desk.fill(60, T0)
    for _ in range(5):
        desk.offer("add_order", T0)
    decisions = desk.throttle.poll(T0 + 2)
    assert _sends(decisions) == 2
    decisions = desk.throttle.poll(T0 + 3)
    assert [type(d) for d in decisions] == [Expire, Expire, Expire]
    assert all(d.waited_s == 3 for d in decisions if isinstance(d, Expire))
    assert desk.throttle.waiting() == 0


def test_pairs_are_independent() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    assert _sends(desk.offer("add_order", T0, symbol="ETH/USD")) == 1
    assert desk.throttle.value("ETH/USD", T0) == 1


def test_amends_wait_in_line_with_new_orders() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(59, T0)
    # amend of a 1 s old order costs 4: it does not fit, and the add behind it waits too
    assert isinstance(desk.offer("amend_order", T0, 1)[0], Queued)
    assert isinstance(desk.offer("add_order", T0)[0], Queued)
    decisions = desk.throttle.poll(T0 + 3)
    assert [type(d) for d in decisions] == [Send]  # 56 + 4 = 60; the add needs one more second
    assert _sends(desk.throttle.poll(T0 + 4)) == 1


# -- cancels -----------------------------------------------------------------------------------


def test_a_cancel_that_fits_goes_at_once_even_with_orders_queued() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(55, T0)
    assert _sends(desk.offer("amend_order", T0, 1)) == 1  # +4 -> 59
    assert _sends(desk.offer("add_order", T0)) == 1  # 60
    assert isinstance(desk.offer("add_order", T0)[0], Queued)
    # cancelling a 400 s old order costs nothing: it does not wait for the queue
    assert _sends(desk.offer("cancel_order", T0, 400)) == 1


def test_a_held_cancel_goes_before_the_orders_queued_ahead_of_it() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    adds = [desk.ticket("add_order", T0) for _ in range(3)]
    for ticket in adds:
        desk.throttle.offer(ticket, T0)
    cancel = desk.ticket("cancel_order", T0 + 0.5, 1)
    assert desk.throttle.offer(cancel, T0 + 0.5) == [] and desk.throttle.flush_wanted
    decisions = desk.throttle.poll(T0 + 2)
    sends = [d for d in decisions if isinstance(d, Send)]
    # first the cancel (alone: a plain cancel past the maximum), then what fits of the queue
    assert (sends[0].key, sends[0].forced) == (cancel.key, True)
    assert sends[0].waited_s == pytest.approx(1.5)
    assert [d.key for d in sends[1:]] == []  # 58 + 8 = 66: the adds wait for the decay
    assert [d.key for d in desk.throttle.poll(T0 + 9) if isinstance(d, Send)] == [adds[0].key]


def test_overflowing_cancels_are_coalesced_per_pair_into_batches_of_50() -> None:
    desk = Desk(make_throttle("pro", timeout=60, jitter_s=0))
    desk.fill(100, T0)
    decisions: list[Decision] = []
    for _ in range(100):
        decisions += desk.offer("cancel_order", T0 + 1, 1)
    decisions += desk.throttle.flush(T0 + 1)
    singles = [d for d in decisions if isinstance(d, Send)]
    batches = [d for d in decisions if isinstance(d, Coalesce)]
    # 180 - (100 - 3.75) = 83.75 of room: ten cancels at 8 fit one by one
    assert len(singles) == 10
    assert [len(b.keys) for b in batches] == [50, 40]
    assert all(b.symbol == PAIR for b in batches)
    # batch cancels go past the maximum, as Kraken accepts them
    assert desk.throttle.value(PAIR, T0 + 1) == pytest.approx(100 - 3.75 + 800)
    assert any(isinstance(d, Warn) for d in decisions)


def test_a_single_id_is_never_left_alone_after_a_full_batch() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    for _ in range(51):
        desk.offer("cancel_order", T0, 1)
    batches = [d for d in desk.throttle.flush(T0) if isinstance(d, Coalesce)]
    assert [len(b.keys) for b in batches] == [49, 2]


def test_a_lone_overflowing_cancel_goes_as_a_plain_cancel() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    key = desk.key + 1
    assert desk.offer("cancel_order", T0, 1) == []
    assert desk.throttle.flush(T0) == [Send(key, 0.0, forced=True)]


def test_one_cancel_request_with_several_ids_becomes_a_batch_of_its_own() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    key = desk.key + 1
    desk.offer("cancel_order", T0, 1, 2, 3)
    assert desk.throttle.flush(T0) == [Coalesce((key,), PAIR)]


def test_cancel_all_and_dead_mans_switch_pass_untouched() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(60, T0)
    desk.offer("add_order", T0)
    for method in ("cancel_all", "cancel_all_orders_after"):
        ticket = Ticket(999, method, (), T0)
        assert desk.throttle.offer(ticket, T0) == [Send(999)]


# -- Kraken's verdicts and warnings --------------------------------------------------------------


def test_a_refusal_snaps_the_counter_to_the_maximum() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    desk.fill(5, T0)
    desk.throttle.snap(PAIR, T0, fixed=1)
    assert desk.throttle.value(PAIR, T0) == 61  # Kraken charged the refused add's +1 too
    assert isinstance(desk.offer("add_order", T0)[0], Queued)


def test_warning_at_80_percent_once_until_it_falls_back() -> None:
    desk = Desk(make_throttle("starter", timeout=60, jitter_s=0))
    warnings: list[Decision] = []
    for _ in range(60):
        warnings += [d for d in desk.offer("add_order", T0) if isinstance(d, Warn)]
    assert warnings == [Warn(PAIR, 48.0, 60)]
    desk.offer("add_order", T0 + 40)  # decayed to 20: re-armed
    desk.fill(28, T0 + 40)
    assert _sends(desk.offer("add_order", T0 + 40)) == 1


@pytest.mark.parametrize(
    ("tier", "headroom"), [("starter", 1.0), ("intermediate", 1.17), ("pro", 1.875)]
)
def test_the_engine_keeps_half_a_second_of_decay_free(tier: str, headroom: float) -> None:
    throttle = make_throttle(tier, timeout=60)
    assert throttle.headroom == pytest.approx(headroom)
    desk = Desk(throttle)
    sent = sum(_sends(desk.offer("add_order", T0)) for _ in range(int(throttle.threshold)))
    assert sent == int(throttle.threshold - headroom)


def test_unlimited_never_queues() -> None:
    desk = Desk(make_throttle("unlimited", timeout=60, jitter_s=0))
    desk.fill(10_000, T0)
    assert desk.throttle.waiting() == 0
