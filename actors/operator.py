"""The engine's side of the operator channel: heartbeats out, control requests in.

Operators reach an engine only through its database (so `kraken-router shutdown` also works
from another machine when the database is PostgreSQL). This thread keeps two promises:

* every `heartbeat_interval` it writes `engine_runs.heartbeat_at` and `connection_state` (and a
  small JSON status under `kv_state`), so `status` and `shutdown` can tell a live engine from a
  dead one by the heartbeat's age alone;
* every `poll_interval` it looks for a `control_requests` row addressed to this account and run,
  claims it, and hands it to `on_request` exactly once. The handler runs the shutdown on a
  thread of its own: the sequence ends by stopping this watcher, which must not join itself.

A failing database write is logged and retried on the next beat; it never ends the thread, since
a watcher that dies silently would make a healthy engine look dead to the operator.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pykka
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from engine.domain.clock import Clock
from persistence import control, repository
from persistence.db import Write, session_writer

__all__ = ["OperatorWatcher", "status_key"]

log = logging.getLogger("kraken_router.operator")


def status_key(run_id: int) -> str:
    """The `kv_state` key under which a run publishes its live status (in-flight counts...)."""
    return f"run/{run_id}/status"


class OperatorWatcher:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        account: str,
        run_id: int,
        clock: Clock,
        status: Callable[[], dict[str, Any]],
        on_request: Callable[[control.ControlRequest], None],
        heartbeat_interval: float = 2.0,
        poll_interval: float = 0.25,
        write: Write | None = None,
    ) -> None:
        self._sessions = sessions
        self._write = write or session_writer(sessions)
        self._account = account
        self._run_id = run_id
        self._clock = clock
        self._status = status
        self._on_request = on_request
        self._heartbeat_interval = heartbeat_interval
        self._poll_interval = poll_interval
        self._claimed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="kraken-router-operator", daemon=True
        )

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def stop_claiming(self) -> None:
        """A shutdown started another way (signal, API): later requests wait for the verdict."""
        self._claimed = True

    def beat(self) -> None:
        """Write one heartbeat now (also called on state changes, so `status` is never stale)."""
        try:
            status = self._status()
        except Exception as exc:  # a stopping actor: report what we can
            status = {"connection_state": "unknown", "error": type(exc).__name__}
        now = self._clock.now()

        def work(session: Session) -> None:
            repository.update_run(
                session,
                self._run_id,
                heartbeat_at=now,
                connection_state=str(status.get("connection_state") or "unknown")[:32],
            )
            repository.set_kv(
                session,
                self._account,
                status_key(self._run_id),
                json.dumps(status, default=str, sort_keys=True),
            )

        try:
            self._write(work)
        except (SQLAlchemyError, pykka.Timeout) as exc:
            log.warning("heartbeat not written: %s", type(exc).__name__)

    def _run(self) -> None:
        next_beat = self._clock.monotonic() + self._heartbeat_interval
        while not self._stop.wait(self._poll_interval):
            if self._clock.monotonic() >= next_beat:
                self.beat()
                next_beat = self._clock.monotonic() + self._heartbeat_interval
            if not self._claimed:
                self._poll()

    def _poll(self) -> None:
        try:
            with self._sessions() as session, session.begin():
                request = control.claim_request(session, account=self._account, run_id=self._run_id)
        except SQLAlchemyError as exc:
            log.warning("control requests not read: %s", type(exc).__name__)
            return
        if request is None:
            return
        self._claimed = True
        log.info("operator request %d (%s) accepted", request.id, request.kind)
        try:
            self._on_request(request)
        except Exception:
            log.exception("operator request %d could not be started", request.id)
