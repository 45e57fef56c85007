"""DeadMansSwitchActor: keeps Kraken's `cancel_all_orders_after` armed while the engine lives.

The venue's timer is the safety: if this process dies or its link does, Kraken cancels every
open order of the account when the timer runs out. So the actor arms as soon as the connection
is authenticated (before reconciliation), re-arms every `interval`, and re-arms first after
every reconnect. A caller's own `cancel_all_spot_orders_after` goes through here: `timeout=0`
disarms and pauses the automatic re-arming until the caller arms again. The policy itself is
pure (`engine.domain.deadman`); this actor only turns its decisions into requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pykka
from sqlalchemy.orm import Session, sessionmaker

from actors.listeners import EventBus
from actors.messages import (
    ConnectionDown,
    ConnectionUp,
    RequestAnswered,
    RequestNotSent,
    RequestUnanswered,
    SendRequest,
    Tick,
    VenueStatusChanged,
)
from actors.supervision import EngineActor, FailureHandler
from engine.config import EngineConfig
from engine.domain import deadman
from engine.domain.clock import Clock
from persistence import repository
from persistence.db import Write, session_writer

__all__ = ["CallerArm", "DeadMansSwitchActor"]

log = logging.getLogger("kraken_router.dead_mans_switch")


@dataclass(frozen=True, slots=True)
class CallerArm:
    """The strategy's own cancel_all_orders_after call."""

    timeout: int
    future: Future[Any] = field(compare=False)


class DeadMansSwitchActor(EngineActor):
    def __init__(
        self,
        *,
        config: EngineConfig,
        clock: Clock,
        events: EventBus,
        connection: Callable[[], pykka.ActorRef[Any] | None],
        sessions: sessionmaker[Session],
        run_id: int | None,
        write: Write | None = None,
        on_failed: FailureHandler | None = None,
    ) -> None:
        super().__init__(on_failed)
        self._clock = clock
        self._events = events
        self._connection = connection
        self._write = write or session_writer(sessions)
        self._run_id = run_id
        self._request_timeout = config.request_timeout
        self._state = deadman.initial_state(
            deadman.DeadMansSwitchConfig(
                timeout=config.dead_mans_switch_timeout,
                interval=config.dead_mans_switch_interval,
            )
        )

    def on_receive(self, message: Any) -> Any:
        now = self._clock.monotonic()
        match message:
            case ConnectionUp():
                self._state = deadman.on_authenticated(self._state, now)
                self._act(now)
            case ConnectionDown():
                self._state = deadman.on_disconnected(self._state, now)
            case Tick():
                self._act(now)
            case CallerArm(timeout=timeout, future=future):
                self._state = deadman.on_caller_timeout(self._state, timeout, now)
                self._send(timeout, future, now)
            case RequestAnswered(response=response):
                self._on_answer(response, now)
            case RequestUnanswered() | RequestNotSent():
                self._state = deadman.on_arm_failed(self._state, now)
            case VenueStatusChanged():
                pass
            case _:
                log.warning("dead man's switch got an unknown message %r", type(message).__name__)
        return None

    def describe(self) -> dict[str, Any]:
        return deadman.describe(self._state, self._clock.monotonic())

    def shut_down(self, disarm: bool) -> None:
        """Stop re-arming; with `disarm`, the next decision sends timeout 0."""
        now = self._clock.monotonic()
        self._state = deadman.on_shutdown(self._state, disarm=disarm)
        self._act(now)

    def _act(self, now: float) -> None:
        decision = deadman.decide(self._state, now)
        if isinstance(decision, deadman.Arm):
            self._send(decision.timeout, None, now)
        elif isinstance(decision, deadman.Disarm):
            self._send(0, None, now)

    def _send(self, timeout: int, future: Future[Any] | None, now: float) -> None:
        connection = self._connection()
        if connection is None:
            return
        self._state = deadman.on_arm_sent(self._state, now, timeout=timeout)
        connection.tell(
            SendRequest(
                "cancel_all_orders_after",
                {"timeout": timeout},
                future,
                ref="dead_mans_switch",
                reply_to=self.actor_ref,
                urgent=True,
            )
        )

    def _on_answer(self, response: Any, now: float) -> None:
        if not response.success:
            log.warning("Kraken refused cancel_all_orders_after: %s", response.error)
            self._state = deadman.on_arm_failed(self._state, now)
            self._events.publish("dead_mans_switch", {"armed": False, "error": response.error})
            return
        result = response.result
        self._state = deadman.on_armed(self._state, now, result.trigger_time, result.current_time)
        self._events.publish(
            "dead_mans_switch",
            {"current_time": result.current_time, "trigger_time": result.trigger_time},
        )
        if self._run_id is not None:
            run_id = self._run_id
            self._write(
                lambda session: repository.update_run(
                    session,
                    run_id,
                    dms_armed_at=result.current_time if result.trigger_time else None,
                    dms_trigger_at=result.trigger_time,
                )
            )
