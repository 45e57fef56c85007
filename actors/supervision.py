"""Fail-stop: an exception nobody expected in an actor stops the whole engine, loudly.

pykka's answer to an exception a handler did not catch is to log it and stop that one actor.
The rest of the engine would run on without it: the dead man's switch re-armed over orders
that nobody tracks any more, callers waiting on futures that nobody will resolve, every later
request timing out. Such an exception is a bug, and the actor's memory may no longer agree with
the database (its transaction rolled back; the book it changed did not). A trading process is
better served by a stop that says so at once and leaves what a restart knows how to recover:

- the failed transaction rolled back, so nothing of it was written or sent;
- intents committed but not sent are settled by the restart's reconciliation as never placed;
- requests on the wire end `OutcomeUnknown` and are settled by that reconciliation too;
- the dead man's switch is no longer re-armed, so Kraken cancels at its trigger time, as for
  any engine that died.

Each actor of the engine derives from `EngineActor`; the engine gives it `on_failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

import pykka

__all__ = ["EngineActor", "FailureHandler"]

log = logging.getLogger("kraken_router.supervision")

# (the failed actor's class name, the exception it raised)
FailureHandler = Callable[[str, BaseException], None]


class EngineActor(pykka.ThreadingActor):
    """An actor whose unexpected failure is cleaned up like a stop, then reported."""

    use_daemon_thread = True

    def __init__(self, on_failed: FailureHandler | None = None) -> None:
        super().__init__()
        self._on_failed = on_failed
        # set before the clean-up runs, so that it can tell callers why (see `failure`)
        self.failure: BaseException | None = None

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # pykka has logged the exception, unregistered the actor and will not call on_stop
        error = exception_value if exception_value is not None else RuntimeError("failed")
        if self.failure is None:
            self.failure = error
        try:
            self.on_stop()  # what a stop does: waiting callers failed, connections closed
        except Exception:
            log.exception("%s: cleaning up after its failure failed too", type(self).__name__)
        self.report_failure(error)

    def report_failure(self, error: BaseException) -> None:
        """Tell the engine now, from inside the failing handler, before its callers hear of
        it: a caller that gets `EngineFailed` then finds the engine `failed`, not running.
        Once only; `on_failure` calls it too."""
        if self.failure is None:
            self.failure = error
        handler, self._on_failed = self._on_failed, None
        if handler is not None:
            handler(type(self).__name__, self.failure)
