"""The dead man's switch schedule as a pure policy: state in, decision out.

Kraken's `cancel_all_orders_after` timer lives in the venue and keeps running when our socket
drops: that is the safety (kraken-spot-v2 §6). The policy keeps it armed while the engine is
alive and connected:

* arm right after authentication, before reconciliation, and again first after every reconnect;
* re-arm every `interval` seconds (measured from the last arm sent), so a healthy engine never
  lets the venue timer run out;
* one arm in flight at a time: not re-sent until it is answered or `interval` has passed again;
* a caller's `timeout=0` disarms and pauses the automatic re-arming until the caller arms again;
  a caller's `timeout > 0` resumes it with the caller's timeout, which is the latest word;
* never re-arm while paused or shutting down; `on_shutdown(disarm=True)` makes `decide` ask for
  one disarm instead.

All times are monotonic float seconds passed in (`now`); the venue's own RFC3339 times only
serve to measure how long the venue will wait (`trigger_time - current_time`), which is immune
to clock skew between us and Kraken.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, TypeAlias

__all__ = [
    "DISARM",
    "NOTHING",
    "Arm",
    "DeadMansSwitchConfig",
    "DeadMansSwitchState",
    "Decision",
    "Disarm",
    "Nothing",
    "decide",
    "describe",
    "initial_state",
    "lapsed",
    "on_arm_failed",
    "on_arm_sent",
    "on_armed",
    "on_authenticated",
    "on_caller_timeout",
    "on_disconnected",
    "on_shutdown",
]

MAX_TIMEOUT: Final = 86399  # Kraken: integer seconds, < 86400


@dataclass(frozen=True, slots=True)
class DeadMansSwitchConfig:
    """`timeout` is what we ask Kraken for; `interval` how often we renew it. 0 disables.

    Kraken recommends a call every 15-30 s with timeout 60.
    """

    timeout: int = 60
    interval: float = 20.0

    def __post_init__(self) -> None:
        if not 0 <= self.timeout <= MAX_TIMEOUT:
            raise ValueError(f"dead man's switch timeout must be within 0..{MAX_TIMEOUT} s")
        if self.interval < 0:
            raise ValueError("dead man's switch interval must be >= 0")
        if self.enabled and self.interval >= self.timeout:
            raise ValueError("dead man's switch interval must be shorter than its timeout")

    @property
    def enabled(self) -> bool:
        return self.timeout > 0 and self.interval > 0


@dataclass(frozen=True, slots=True)
class Arm:
    """Send `cancel_all_orders_after` with this timeout."""

    timeout: int


@dataclass(frozen=True, slots=True)
class Disarm:
    """Send `cancel_all_orders_after` with timeout 0."""


@dataclass(frozen=True, slots=True)
class Nothing:
    """Nothing to send now."""


DISARM: Final = Disarm()
NOTHING: Final = Nothing()
Decision: TypeAlias = Arm | Disarm | Nothing


@dataclass(frozen=True, slots=True)
class DeadMansSwitchState:
    """What the policy knows; replaced, never mutated, by the `on_*` helpers."""

    config: DeadMansSwitchConfig
    connected: bool = False
    authenticated: bool = False
    shutting_down: bool = False
    disarm_on_shutdown: bool = False
    paused_by_caller: bool = False
    caller_timeout: int | None = None  # the caller's last non-zero timeout, adopted
    armed_until: float | None = None  # monotonic time the venue timer runs out, if armed
    trigger_time: datetime | None = None  # the venue's own word for it
    last_arm_sent_at: float | None = None
    in_flight: bool = False  # a request sent, not yet answered
    in_flight_timeout: int | None = None  # its timeout; 0 = a disarm
    rearm_first: bool = True  # set on every (re)authentication
    disarmed: bool = False  # Kraken confirmed timeout 0


def initial_state(config: DeadMansSwitchConfig) -> DeadMansSwitchState:
    return DeadMansSwitchState(config=config)


def _timeout(state: DeadMansSwitchState) -> int:
    """The timeout the automatic re-arm would send now (0 while paused)."""
    if state.paused_by_caller:
        return 0
    return state.caller_timeout or state.config.timeout


def _interval(state: DeadMansSwitchState) -> float:
    """Renew at `interval`, but at least twice per timeout (a caller may choose a short one)."""
    timeout = state.caller_timeout or state.config.timeout
    interval = state.config.interval or timeout / 2
    return min(interval, timeout / 2) if timeout > 0 else interval


def decide(state: DeadMansSwitchState, now: float) -> Decision:
    """What to send to Kraken at `now`, if anything."""
    if not (state.connected and state.authenticated):
        return NOTHING  # the venue timer keeps running: that is the point
    if state.in_flight and (
        state.last_arm_sent_at is None or now - state.last_arm_sent_at < _interval(state)
    ):
        return NOTHING
    if state.shutting_down:
        return DISARM if state.disarm_on_shutdown and not state.disarmed else NOTHING
    if not state.config.enabled or state.paused_by_caller:
        return NOTHING
    if state.rearm_first or state.last_arm_sent_at is None:
        return Arm(_timeout(state))
    if now - state.last_arm_sent_at >= _interval(state):
        return Arm(_timeout(state))
    return NOTHING


def on_authenticated(state: DeadMansSwitchState, now: float) -> DeadMansSwitchState:
    """A (re)connection is authenticated: arm first, before anything else."""
    return replace(
        state,
        connected=True,
        authenticated=True,
        rearm_first=True,
        in_flight=False,
        in_flight_timeout=None,
    )


def on_disconnected(state: DeadMansSwitchState, now: float) -> DeadMansSwitchState:
    """The link is gone: an answer in flight will never come; the venue timer runs on."""
    return replace(
        state,
        connected=False,
        authenticated=False,
        rearm_first=True,
        in_flight=False,
        in_flight_timeout=None,
    )


def on_arm_sent(
    state: DeadMansSwitchState, now: float, timeout: int | None = None
) -> DeadMansSwitchState:
    """A `cancel_all_orders_after` left; `timeout` defaults to what `decide` would ask."""
    return replace(
        state,
        last_arm_sent_at=now,
        in_flight=True,
        in_flight_timeout=_timeout(state) if timeout is None else timeout,
        rearm_first=False,
    )


def on_armed(
    state: DeadMansSwitchState,
    now: float,
    trigger_time: datetime | None,
    current_time: datetime | None = None,
) -> DeadMansSwitchState:
    """Kraken answered success: armed until `trigger_time`, or disarmed when it is None.

    With the venue's `current_time`, the remaining time is measured on the venue's clock and
    anchored on ours at `now`; without it, the timeout we sent stands in for it.
    """
    if trigger_time is None:
        return replace(
            state,
            armed_until=None,
            trigger_time=None,
            in_flight=False,
            in_flight_timeout=None,
            disarmed=True,
        )
    if current_time is not None:
        armed_until = now + (trigger_time - current_time).total_seconds()
    else:
        armed_until = now + (state.in_flight_timeout or _timeout(state))
    return replace(
        state,
        armed_until=armed_until,
        trigger_time=trigger_time,
        in_flight=False,
        in_flight_timeout=None,
        disarmed=False,
    )


def on_arm_failed(state: DeadMansSwitchState, now: float) -> DeadMansSwitchState:
    """Refused, unanswered or never sent: try again one interval after the last send.

    Waiting the interval (not retrying at once) keeps a refusal from becoming a hot loop; the
    venue timer, if armed, still covers the gap.
    """
    return replace(state, in_flight=False, in_flight_timeout=None)


def on_caller_timeout(state: DeadMansSwitchState, timeout: int, now: float) -> DeadMansSwitchState:
    """The caller sent its own `cancel_all_orders_after(timeout)`; it counts as our send.

    `timeout=0` disarms and pauses the automatic re-arming; a later `timeout > 0` resumes it
    and becomes the timeout of every automatic re-arm.
    """
    if timeout < 0 or timeout > MAX_TIMEOUT:
        raise ValueError(f"timeout must be within 0..{MAX_TIMEOUT} s")
    return replace(
        state,
        paused_by_caller=timeout == 0,
        caller_timeout=timeout or state.caller_timeout,
        last_arm_sent_at=now,
        in_flight=True,
        in_flight_timeout=timeout,
        rearm_first=False,
    )


def on_shutdown(state: DeadMansSwitchState, *, disarm: bool = False) -> DeadMansSwitchState:
    """Stop re-arming; with `disarm`, `decide` asks for one disarm (after cancel-all, say)."""
    return replace(state, shutting_down=True, disarm_on_shutdown=disarm)


def lapsed(state: DeadMansSwitchState, now: float) -> bool:
    """The venue timer ran out: Kraken has cancelled every open order of the account."""
    return state.armed_until is not None and now >= state.armed_until


def describe(state: DeadMansSwitchState, now: float | None = None) -> dict[str, Any]:
    """A plain summary for `status` output and events."""
    info: dict[str, Any] = {
        "enabled": state.config.enabled,
        "timeout": _timeout(state),
        "interval": _interval(state),
        "connected": state.connected,
        "authenticated": state.authenticated,
        "paused_by_caller": state.paused_by_caller,
        "shutting_down": state.shutting_down,
        "armed": state.armed_until is not None,
        "trigger_time": state.trigger_time.isoformat() if state.trigger_time else None,
        "in_flight": state.in_flight,
    }
    if now is not None:
        info["remaining_s"] = None if state.armed_until is None else state.armed_until - now
        info["lapsed"] = lapsed(state, now)
    return info
