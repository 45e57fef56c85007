"""The dead man's switch policy, driven by hand with explicit `now` values (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.domain import deadman as dms
from engine.domain.deadman import DISARM, NOTHING, Arm, DeadMansSwitchConfig

VENUE_NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def connected(config: DeadMansSwitchConfig | None = None) -> dms.DeadMansSwitchState:
    state = dms.initial_state(config or DeadMansSwitchConfig(timeout=60, interval=20))
    return dms.on_authenticated(state, 100.0)


def armed(state: dms.DeadMansSwitchState, now: float, timeout: int = 60) -> dms.DeadMansSwitchState:
    """Send what decide asked for and get Kraken's success back at once."""
    state = dms.on_arm_sent(state, now)
    return dms.on_armed(state, now, VENUE_NOW + timedelta(seconds=timeout), current_time=VENUE_NOW)


def test_nothing_before_authentication() -> None:
    state = dms.initial_state(DeadMansSwitchConfig())
    assert dms.decide(state, 0.0) is NOTHING


def test_arms_right_after_authentication() -> None:
    assert dms.decide(connected(), 100.0) == Arm(60)


def test_rearms_every_interval_from_the_last_send() -> None:
    state = armed(connected(), 100.0)
    assert state.armed_until == 160.0
    assert dms.decide(state, 119.9) is NOTHING
    assert dms.decide(state, 120.0) == Arm(60)
    state = armed(state, 120.0)
    assert dms.decide(state, 139.0) is NOTHING
    assert dms.decide(state, 140.0) == Arm(60)


def test_an_arm_in_flight_is_not_resent_until_answered_or_an_interval_passes() -> None:
    state = dms.on_arm_sent(connected(), 100.0)
    assert state.in_flight
    assert dms.decide(state, 100.0) is NOTHING
    assert dms.decide(state, 119.0) is NOTHING
    assert dms.decide(state, 120.0) == Arm(60)  # no answer for a whole interval: try again


def test_rearms_first_after_every_reconnect() -> None:
    state = armed(connected(), 100.0)
    state = dms.on_disconnected(state, 105.0)
    assert dms.decide(state, 106.0) is NOTHING  # nothing to send on; the venue timer runs
    assert state.armed_until == 160.0
    state = dms.on_authenticated(state, 107.0)
    assert dms.decide(state, 107.0) == Arm(60)  # not waiting for the interval


def test_a_reconnect_forgets_the_arm_in_flight() -> None:
    state = dms.on_arm_sent(connected(), 100.0)
    state = dms.on_disconnected(state, 101.0)
    state = dms.on_authenticated(state, 102.0)
    assert not state.in_flight
    assert dms.decide(state, 102.0) == Arm(60)


def test_caller_timeout_zero_pauses_until_the_caller_arms_again() -> None:
    state = armed(connected(), 100.0)
    state = dms.on_caller_timeout(state, 0, 110.0)
    state = dms.on_armed(state, 110.0, None, current_time=VENUE_NOW)
    assert state.disarmed and state.armed_until is None
    for now in (130.0, 500.0):
        assert dms.decide(state, now) is NOTHING
    # a reconnect does not lift the pause either
    state = dms.on_authenticated(dms.on_disconnected(state, 600.0), 601.0)
    assert dms.decide(state, 601.0) is NOTHING
    # the caller arms again, with its own timeout, which the automatic re-arm adopts
    state = dms.on_caller_timeout(state, 120, 700.0)
    state = dms.on_armed(state, 700.0, VENUE_NOW + timedelta(seconds=120), VENUE_NOW)
    assert not state.paused_by_caller
    assert dms.decide(state, 719.0) is NOTHING
    assert dms.decide(state, 720.0) == Arm(120)


def test_a_short_caller_timeout_shortens_the_interval() -> None:
    state = dms.on_caller_timeout(connected(), 10, 100.0)
    state = dms.on_armed(state, 100.0, VENUE_NOW + timedelta(seconds=10), VENUE_NOW)
    assert dms.decide(state, 104.9) is NOTHING
    assert dms.decide(state, 105.0) == Arm(10)


def test_never_rearms_while_shutting_down() -> None:
    state = armed(connected(), 100.0)
    state = dms.on_shutdown(state)
    for now in (120.0, 1000.0):
        assert dms.decide(state, now) is NOTHING
    assert dms.decide(dms.on_authenticated(state, 1001.0), 1001.0) is NOTHING


def test_shutdown_with_disarm_asks_once_until_confirmed() -> None:
    state = armed(connected(), 100.0)
    state = dms.on_shutdown(state, disarm=True)
    assert dms.decide(state, 101.0) is DISARM
    state = dms.on_arm_sent(state, 101.0, timeout=0)
    assert dms.decide(state, 102.0) is NOTHING
    state = dms.on_armed(state, 102.0, None)
    assert dms.decide(state, 200.0) is NOTHING


def test_shutdown_disarm_is_retried_after_an_interval_without_answer() -> None:
    state = dms.on_shutdown(armed(connected(), 100.0), disarm=True)
    state = dms.on_arm_sent(state, 101.0, timeout=0)
    assert dms.decide(state, 120.0) is NOTHING
    assert dms.decide(state, 121.0) is DISARM


def test_a_refused_arm_is_retried_after_an_interval_not_at_once() -> None:
    state = dms.on_arm_sent(connected(), 100.0)
    state = dms.on_arm_failed(state, 100.5)
    assert dms.decide(state, 101.0) is NOTHING
    assert dms.decide(state, 120.0) == Arm(60)


def test_disabled_config_never_arms() -> None:
    state = connected(DeadMansSwitchConfig(timeout=0, interval=0))
    assert dms.decide(state, 100.0) is NOTHING
    assert dms.decide(state, 10_000.0) is NOTHING


def test_armed_until_uses_the_venue_duration_not_its_clock() -> None:
    state = dms.on_arm_sent(connected(), 100.0)
    skewed = VENUE_NOW + timedelta(hours=3)  # Kraken's clock far from ours: irrelevant
    state = dms.on_armed(state, 100.2, skewed + timedelta(seconds=60), current_time=skewed)
    assert state.armed_until == pytest.approx(160.2)
    assert state.trigger_time == skewed + timedelta(seconds=60)


def test_without_current_time_the_sent_timeout_stands_in() -> None:
    state = dms.on_arm_sent(connected(), 100.0)
    state = dms.on_armed(state, 100.5, VENUE_NOW)
    assert state.armed_until == 160.5


def test_lapse_is_detected_when_the_venue_timer_ran_out() -> None:
    state = armed(connected(), 100.0)
    assert not dms.lapsed(state, 159.9)
    assert dms.lapsed(state, 160.0)
    info = dms.describe(state, 170.0)
    assert info["lapsed"] is True and info["armed"] is True
    assert dms.describe(state)["timeout"] == 60


@pytest.mark.parametrize(
    ("timeout", "interval"), [(86400, 20.0), (-1, 20.0), (60, 60.0), (60, 90.0), (60, -1.0)]
)
def test_config_refuses_what_cannot_work(timeout: int, interval: float) -> None:
    with pytest.raises(ValueError):
        DeadMansSwitchConfig(timeout=timeout, interval=interval)


def test_caller_timeout_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        dms.on_caller_timeout(connected(), 86400, 100.0)
