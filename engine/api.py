"""The composition root and the public facade: `Engine`.

The facade validates in the caller's thread (a bad order fails its future before anything is
written or sent), assigns a `cl_ord_id` when the caller gave no identity, and hands commands to
the actors. Every trading method returns a `concurrent.futures.Future` that resolves with
Kraken's typed response or fails with an error from `engine.errors`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import socket
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import pykka
from sqlalchemy.orm import Session, sessionmaker

from actors.checkpointer import Checkpointer
from actors.clock import SystemClock
from actors.connection import ConnectionActor
from actors.dead_mans_switch import CallerArm, DeadMansSwitchActor
from actors.entropy import RandomBytes
from actors.handover import Door
from actors.listeners import Event, EventBus
from actors.messages import Connect, ForwardRequest, PlaceOrders
from actors.order_manager import Intake, OrderManagerActor
from actors.rate_limiter import RateLimiterActor
from actors.reconciler import ReconcilerActor
from actors.rest_client import RestClient
from actors.ticker import Ticker
from engine.config import EngineConfig
from engine.domain.backoff import Backoff, ConnectionBudget
from engine.domain.clock import Clock
from engine.domain.ids import new_cl_ord_id
from engine.domain.order import Order
from engine.errors import (
    ConfigError,
    CredentialsRefused,
    EngineFailed,
    EngineStopped,
    KrakenRouterError,
    LocalRejection,
    TransportError,
)
from engine.instruments import Instruments
from engine.kraken import ratelimit
from engine.kraken.trading import build_params
from engine.shutdown import ShutdownCoordinator, ShutdownReport
from persistence import repository
from persistence.db import Write, ensure_schema, make_engine, make_sessionmaker, session_writer
from persistence.runs import live_runs

__all__ = ["Engine"]

log = logging.getLogger("kraken_router.engine")
# a run whose heartbeat is older than this (or 5 heartbeats) no longer holds its account
_RIVAL_STALE_S = 10.0
# the runs this process is running: a recorded run with this host and pid is one of these, or
# an earlier process that had the same pid (a container's strategy is often pid 1 every time)
_RUNS_HERE: set[int] = set()
_RUNS_HERE_LOCK = threading.Lock()
_RANDOM = RandomBytes()  # the cl_ord_ids' bytes, without a system call per order

_VERSION = "0.1.0"


class Engine:
    """One account's execution engine: one authenticated WebSocket, one order database.

    Use it as a context manager (`with Engine(config) as engine:`) or call `start()` and
    `stop()`. Methods are thread-safe; their futures resolve on the engine's threads, so
    callbacks added with `add_done_callback` must be quick.
    """

    def __init__(self, config: EngineConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self._clock: Clock = clock or SystemClock()
        self._events = EventBus()
        self._intake = Intake()
        self._state = "new"
        self._lock = threading.Lock()
        self._authenticated = threading.Event()
        # why the last connect attempt failed, until one succeeds (`connect()` reports it)
        self._link = threading.Condition()
        self._connect_failure: KrakenRouterError | None = None
        self._refs: list[pykka.ActorRef[Any]] = []
        self._tickers: list[Ticker] = []
        self._connection: pykka.ActorRef[ConnectionActor] | None = None
        self._wire: Door | None = None
        self._write: Write | None = None
        self._orders: pykka.ActorRef[OrderManagerActor] | None = None
        self._dms: pykka.ActorRef[DeadMansSwitchActor] | None = None
        self._limiter: pykka.ActorRef[RateLimiterActor] | None = None
        self._limiter_gate: Door | None = None
        self._instruments: Instruments | None = None
        self._rest: RestClient | None = None
        self._db: Any = None
        self._checkpointer: Checkpointer | None = None
        self._run_id: int | None = None
        self._failure: str | None = None  # why the engine stopped itself (see _actor_failed)
        self._fail_stop: threading.Thread | None = None
        self._shutdown = ShutdownCoordinator(self)
        self._events.on("authenticated", self._on_authenticated)
        self._events.on("reconnecting", self._on_reconnecting)
        self._events.on("close", lambda _e: self._authenticated.clear())
        if config.attach_default_listeners:
            for name in ("open", "authenticated", "reconnecting", "reconnected", "close"):
                self._events.on(name, _log_event)
            self._events.on("exception", _log_exception)

    def __repr__(self) -> str:
        return f"Engine(account={self.config.account!r}, state={self._state!r})"

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Engine:
        """Open the database (upgrading an older SQLite one), then start the actors.

        Raises `DatabaseError` before any connection to Kraken when the database cannot be used,
        and `ConfigError` when a live engine already trades the account on this database.
        """
        with self._lock:
            if self._state != "new":
                raise EngineStopped(f"engine already {self._state}")
            self._state = "starting"
        config = self.config
        self._db = make_engine(
            config.database_url, synchronous=config.sqlite_synchronous, wal_autocheckpoint=0
        )
        sessions = make_sessionmaker(self._db)
        try:
            ensure_schema(self._db, upgrade=config.auto_upgrade_database)
            self._refuse_a_second_engine(sessions)
        except BaseException:
            # refused before anything else started: nothing to stop but the pool
            self._db.dispose()
            self._state = "stopped"
            raise
        self._checkpointer = Checkpointer(self._db)
        self._checkpointer.start()
        with sessions() as session, session.begin():
            self._run_id = repository.start_run(
                session,
                account=config.account,
                host=socket.gethostname(),
                pid=os.getpid(),
                at=self._clock.now(),
                version=_VERSION,
            )
        with _RUNS_HERE_LOCK:
            _RUNS_HERE.add(self._run_id)
        self._events.start()
        self._rest = RestClient(
            config.rest_url, config.api_key, config.api_secret, timeout=config.connect_timeout
        )
        rest = self._rest
        self._instruments = Instruments(
            lambda: rest.public("AssetPairs"),
            sessions,
            config.account,
            config.instruments_refresh_s,
        )
        self._instruments.load()
        self._instruments.start_refreshing()
        if config.rate_limit_tier != "unlimited":
            # between the order manager and the connection; with no counter to respect it
            # would only add a hop, so under `unlimited` it is not started at all
            self._limiter = RateLimiterActor.start(
                tier=config.rate_limit_tier,
                clock=self._clock,
                events=self._events,
                connection=lambda: self._wire,
                request_timeout=config.request_timeout,
                on_failed=self._actor_failed,
            )
            self._limiter_gate = self._limiter.proxy().gate.get(timeout=10)
        reconciler = ReconcilerActor.start(self._rest, self._clock, self._actor_failed)
        orders = OrderManagerActor.start(
            account=config.account,
            sessions=sessions,
            clock=self._clock,
            events=self._events,
            intake=self._intake,
            # requests leave on the order manager's own thread when the socket is ready
            connection=lambda: self._limiter_gate or self._wire,
            reconciler=lambda: reconciler,
            run_id=self._run_id,
            request_timeout=config.request_timeout,
            order_deadline=config.order_deadline,
            rest_lag_s=config.rest_lag_s,
            amend_rules=self._check_amend,
            max_open_per_pair=(
                None
                if config.rate_limit_tier == "unlimited"
                else ratelimit.tier(config.rate_limit_tier).max_open_orders
            ),
            caller_headstart_s=config.caller_headstart_s,
            max_orders_per_commit=config.max_orders_per_commit,
            # behind the clock by more than a silent socket takes to be declared dead
            sync_lag_s=max(60.0, 2 * config.liveness_timeout),
            on_failed=self._actor_failed,
        )
        self._orders = orders
        # answers and executions reach the order manager through its inlet (group commit)
        inlet = orders.proxy().inlet.get(timeout=10)
        self._write = _through(orders, sessions)
        self._dms = DeadMansSwitchActor.start(
            config=config,
            clock=self._clock,
            events=self._events,
            connection=lambda: self._connection,
            sessions=sessions,
            run_id=self._run_id,
            write=self._write,
            on_failed=self._actor_failed,
        )
        dms = self._dms
        self._connection = ConnectionActor.start(
            config,
            self._rest,
            self._clock,
            self._events,
            Backoff(
                base=config.reconnect_base_delay,
                cap=config.reconnect_max_delay,
                rng=random.Random(),
            ),
            ConnectionBudget(),
            lambda: (inlet, dms),
            lambda: inlet,
            self._actor_failed,
        )
        self._wire = self._connection.proxy().wire.get(timeout=10)
        self._refs = [reconciler, orders, dms, self._connection]
        if self._limiter is not None:
            # stopped before the order manager, so that requests it holds end `not_sent`
            self._refs.insert(2, self._limiter)
        self._tickers = [
            Ticker(self._connection, 0.05, "kraken-router-connection-tick"),
            Ticker(orders, 1.0, "kraken-router-orders-tick"),
            Ticker(dms, 0.25, "kraken-router-dms-tick"),
        ]
        if self._limiter is not None:
            self._tickers.append(Ticker(self._limiter, 0.05, "kraken-router-limiter-tick"))
        for ticker in self._tickers:
            ticker.start()
        with sessions() as session, session.begin():
            repository.update_run(session, self._run_id, state="running")
        self._sessions = sessions
        self._state = "running"
        if config.freeze_gc_at_start:
            gc.collect()
            gc.freeze()
        # heartbeats and operator control requests (kraken-router status / shutdown)
        self._shutdown.start_watching()
        return self

    def _refuse_a_second_engine(self, sessions: sessionmaker[Session]) -> None:
        """One engine per account and database: it owns the account's dead man's switch and
        reconciles the account's orders, and a second writer would stall the first on the
        database's lock. A run that died (its process gone, or its heartbeat stale) does not
        count, so a restart after a crash is never refused, nor is a run recorded with this
        process's pid that this process is not running (an earlier process had the pid)."""
        stale_after = max(_RIVAL_STALE_S, 5 * self.config.heartbeat_interval)
        now = self._clock.now()
        with sessions() as session:
            rivals = live_runs(session, self.config.account, now, stale_after)
        host, pid = socket.gethostname(), os.getpid()
        with _RUNS_HERE_LOCK:
            rivals = [
                run for run in rivals if run.host != host or run.pid != pid or run.id in _RUNS_HERE
            ]
        if rivals:
            run = rivals[0]
            age = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else 0.0
            raise ConfigError(
                f"account {self.config.account!r} is already traded by engine run {run.id} "
                f"({run.host}:{run.pid}, heartbeat {age:.1f} s ago) on this database: one "
                "engine per account. Stop it first (kraken-router shutdown), or give this "
                "engine's key its own account (EngineConfig.account)"
            )

    def connect(self, timeout: float | None = None) -> None:
        """Pre-warm: return once connected and authenticated (executions subscribed).

        Raises:
            CredentialsRefused: at Kraken's first refusal of the key, its signature or its
                permissions (waiting longer cannot help).
            TransportError: not authenticated within `timeout`; it says why the last
                attempt failed.
        """
        connection = self._require_running()
        with self._link:
            self._connect_failure = None  # this call's attempts only
        connection.tell(Connect())
        wait = timeout if timeout is not None else self.config.connect_timeout * 3

        def settled() -> bool:
            refused = isinstance(self._connect_failure, CredentialsRefused)
            return self._authenticated.is_set() or refused

        with self._link:
            self._link.wait_for(settled, wait)
            failure = self._connect_failure
        if self._authenticated.is_set():
            return
        if isinstance(failure, CredentialsRefused):
            raise CredentialsRefused(failure.error, failure.method) from failure
        why = f"; the last attempt: {failure}" if failure is not None else ""
        raise TransportError(f"not authenticated within {wait} s{why}")

    def _on_authenticated(self, _event: Event) -> None:
        with self._link:
            self._authenticated.set()
            self._connect_failure = None
            self._link.notify_all()

    def _on_reconnecting(self, event: Event) -> None:
        error = event.data.get("error") if isinstance(event.data, dict) else None
        if error is None:
            return
        with self._link:
            self._connect_failure = error
            self._link.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the actors and close the socket; the dead man's switch stays as it is.

        An armed switch keeps protecting resting orders after the engine is gone: that is its
        purpose. Use the operator's shutdown to cancel and disarm.
        """
        with self._lock:
            if self._state == "failed":
                stopping = self._fail_stop
            elif self._state in ("stopping", "stopped", "new"):
                self._state = "stopped"
                return
            else:
                self._state = "stopping"
                stopping = None
        if stopping is not None:
            stopping.join(timeout)  # the engine stops itself: wait for that, nothing more
            return
        self._stop_actors(timeout)

    def _actor_failed(self, actor: str, error: BaseException) -> None:
        """An actor raised what nobody expected: stop the whole engine (fail-stop).

        Runs on the failed actor's thread, which pykka has already stopped; the actors are
        stopped from a thread of its own, since one of them may be the caller of this.
        See `actors.supervision` for why the engine does not run on without the actor.
        """
        reason = f"{actor} failed: {type(error).__name__}: {error}"
        with self._lock:
            if self._state == "shutting_down":
                # the safe shutdown goes on (it falls back to REST to cancel, verify and
                # disarm) and stops the engine itself; the run is recorded `crashed`
                self._failure = reason
                log.error("%s during the safe shutdown", reason)
                self._events.publish("exception", EngineFailed(reason))
                return
            if self._state != "running":
                return  # starting (start() raises) or already stopping: that stop finishes
            self._state = "failed"
            self._failure = reason
            # started under the lock: a stop() that sees `failed` finds a thread to join
            self._fail_stop = threading.Thread(
                target=self._stop_after_failure, name="kraken-router-fail-stop", daemon=True
            )
            self._fail_stop.start()

    def _stop_after_failure(self) -> None:
        assert self._failure is not None
        log.error("engine stopping itself: %s", self._failure)
        self._intake.fail_all(self._stopped_error)
        self._events.publish("exception", EngineFailed(self._failure))
        self._stop_actors(10.0)

    def _stop_actors(self, timeout: float) -> None:
        """Stop everything; the run is recorded `crashed` when an actor failed (`_failure`)."""
        self._shutdown.stop_watching()
        for ticker in self._tickers:
            ticker.stop()
        if self._instruments is not None:
            self._instruments.stop()
        for ref in reversed(self._refs):
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(timeout=timeout)
        if self._rest is not None:
            self._rest.close()
        if self._run_id is not None:
            with _RUNS_HERE_LOCK:
                _RUNS_HERE.discard(self._run_id)
            with self._sessions() as session, session.begin():
                repository.update_run(
                    session,
                    self._run_id,
                    state="stopped" if self._failure is None else "crashed",
                    stopped_at=self._clock.now(),
                    connection_state="closed",  # not the last heartbeat's word
                )
        self._events.wait_idle(timeout=timeout)
        self._events.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._db is not None:
            self._db.dispose()
        self._state = "stopped" if self._failure is None else "failed"

    def __enter__(self) -> Engine:
        if self._state == "new":
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def state(self) -> str:
        """new, starting, running, stopping, stopped, or failed (see `failure`)."""
        return self._state

    @property
    def failure(self) -> str | None:
        """Why the engine stopped itself, when `state` is `failed`: which actor, what error."""
        return self._failure

    # -- safe shutdown -------------------------------------------------------------------------

    def shutdown(self, keep_orders: bool = False, timeout: float = 60.0) -> ShutdownReport:
        """Stop accepting, settle in-flight requests, cancel all (unless `keep_orders`), verify
        over REST that nothing is open, disarm the dead man's switch, then stop.

        Returns the report of every verified step; `report.ok` is False (with `report.error`)
        when a step could not be verified, in which case the switch is left armed so Kraken
        still cancels at its trigger time. The engine is stopped either way.
        """
        return self._shutdown.run(keep_orders=keep_orders, timeout=timeout)

    def install_signal_handlers(self, keep_orders: bool = False, timeout: float = 60.0) -> None:
        """Run the safe shutdown on SIGTERM and SIGINT (call from the main thread).

        The sequence runs on a thread of its own; `wait_shutdown()` returns its report.
        """
        self._shutdown.install_signal_handlers(keep_orders=keep_orders, timeout=timeout)

    def wait_shutdown(self, timeout: float | None = None) -> ShutdownReport | None:
        """Block until a safe shutdown (signal, operator request or `shutdown()`) has finished."""
        return self._shutdown.wait(timeout)

    # -- events ----------------------------------------------------------------------------------

    def on(self, name: str, handler: Callable[[Event], None]) -> None:
        """Call `handler(event)` on the events thread for every event called `name`.

        Names: open, authenticated, reconnecting, reconnected, reconciled, exception, close,
        order (every lifecycle change, with the order's snapshot), execution (each report),
        dead_mans_switch, status, rate_limit; `*` for all.
        """
        self._events.on(name, handler)

    def off(self, name: str, handler: Callable[[Event], None]) -> None:
        self._events.off(name, handler)

    def wait_for_events(self, timeout: float = 5.0) -> bool:
        """Block until every event published so far has been handled."""
        return self._events.wait_idle(timeout)

    # -- queries ---------------------------------------------------------------------------------

    def get_order(self, key: str, timeout: float = 5.0) -> Order | None:
        """The engine's current view of an order, by cl_ord_id or Kraken order_id."""
        result: Order | None = self._ask(self._orders, "get_order", timeout, key)
        return result

    def open_orders(self, timeout: float = 5.0) -> list[Order]:
        result: list[Order] = self._ask(self._orders, "open_orders", timeout)
        return result

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """The order manager's write-path figures (commits, mean/max commit time, live orders),
        and `events_pending`: events published and not yet handled by the strategy's handlers."""
        result: dict[str, Any] = self._ask(self._orders, "stats", timeout)
        result["events_pending"] = self._events.pending
        return result

    def _ask(self, ref: pykka.ActorRef[Any] | None, method: str, timeout: float, *args: Any) -> Any:
        """A query to an actor: a stopped or failed engine says so in its typed error."""
        if ref is None:
            raise EngineStopped("engine not started")
        try:
            return getattr(ref.proxy(), method)(*args).get(timeout=timeout)
        except pykka.ActorDeadError as exc:
            if self._failure is not None:
                raise EngineFailed(f"{method}: engine failed ({self._failure})") from exc
            raise EngineStopped(f"{method}: engine stopped") from exc

    def rate_limit_stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """The rate limiter's figures (queued, expired, coalesced, waits); {} when unlimited."""
        limiter = self._limiter
        if limiter is None:
            return {}
        result: dict[str, Any] = self._ask(limiter, "stats", timeout)
        return result

    def connection_status(self, timeout: float = 5.0) -> dict[str, Any]:
        connection = self._require_running()
        result: dict[str, Any] = connection.proxy().describe().get(timeout=timeout)
        return result

    # -- the eight trading methods ---------------------------------------------------------------

    def submit_spot_order(self, **fields: Any) -> Future[Any]:
        """add_order: place one order. Resolves with the response (`result.order_id`)."""
        future: Future[Any] = Future()
        try:
            self._require_running()
            fields = _with_identity(fields)
            params = build_params("add_order", fields)
            self._check_rules("add_order", params)
        except (LocalRejection, EngineStopped) as exc:
            future.set_exception(exc)
            return future
        self._enqueue(PlaceOrders("add_order", params, future))
        return future

    def amend_spot_order(self, **fields: Any) -> Future[Any]:
        """amend_order: change quantity/price in place, keeping ids and queue priority."""
        return self._forward("amend_order", fields)

    def edit_spot_order(self, **fields: Any) -> Future[Any]:
        """edit_order (deprecated by Kraken: prefer amend): cancel and replace with a new id."""
        warnings.warn(
            "edit_order is deprecated by Kraken; use amend_spot_order",
            DeprecationWarning,
            stacklevel=2,
        )
        future: Future[Any] = Future()
        try:
            self._require_running()
            params = build_params("edit_order", fields)
            self._check_rules("edit_order", params)
        except (LocalRejection, EngineStopped) as exc:
            future.set_exception(exc)
            return future
        self._enqueue(PlaceOrders("edit_order", params, future))
        return future

    def cancel_spot_order(
        self,
        order_id: str | Sequence[str] | None = None,
        cl_ord_id: str | Sequence[str] | None = None,
        order_userref: int | Sequence[int] | None = None,
    ) -> Future[Any]:
        """cancel_order. With several ids it resolves once every id has been answered (or at the
        timeout) to a `MultiFrameResponse` whose `results` hold one outcome per id."""
        fields: dict[str, Any] = {}
        for name, value in (
            ("order_id", order_id),
            ("cl_ord_id", cl_ord_id),
            ("order_userref", order_userref),
        ):
            if value is not None:
                fields[name] = [value] if isinstance(value, str | int) else list(value)
        expected = sum(len(v) for v in fields.values())
        return self._forward("cancel_order", fields, urgent=True, expected_frames=max(expected, 1))

    def cancel_all_spot_orders(self) -> Future[Any]:
        """cancel_all: every open order of the account. Resolves with `result.count`."""
        return self._forward("cancel_all", {}, urgent=True)

    def cancel_all_spot_orders_after(self, timeout: int) -> Future[Any]:
        """cancel_all_orders_after (the dead man's switch); `timeout=0` disarms it and pauses
        the engine's automatic re-arming until it is armed again."""
        future: Future[Any] = Future()
        try:
            self._require_running()
            params = build_params("cancel_all_orders_after", {"timeout": timeout})
        except (LocalRejection, EngineStopped) as exc:
            future.set_exception(exc)
            return future
        assert self._dms is not None
        self._dms.tell(CallerArm(int(params["timeout"]), future))
        return future

    def batch_submit_spot_orders(
        self,
        symbol: str,
        orders: Iterable[Mapping[str, Any]],
        deadline: Any = None,
        validate: bool | None = None,
    ) -> Future[Any]:
        """batch_add: 2 to 15 orders on one symbol. Resolves with one result row per order."""
        future: Future[Any] = Future()
        try:
            self._require_running()
            fields: dict[str, Any] = {
                "symbol": symbol,
                "orders": [_with_identity(dict(o)) for o in orders],
            }
            if deadline is not None:
                fields["deadline"] = deadline
            if validate is not None:
                fields["validate"] = validate
            params = build_params("batch_add", fields)
            self._check_rules("batch_add", params)
        except (LocalRejection, EngineStopped) as exc:
            future.set_exception(exc)
            return future
        self._enqueue(PlaceOrders("batch_add", params, future))
        return future

    def batch_cancel_spot_orders(
        self, orders: Sequence[str] | None = None, cl_ord_id: Sequence[str] | None = None
    ) -> Future[Any]:
        """batch_cancel: 2 to 50 ids; Kraken accepts it even past the trading counter."""
        fields: dict[str, Any] = {}
        if orders is not None:
            fields["orders"] = list(orders)
        if cl_ord_id is not None:
            fields["cl_ord_id"] = list(cl_ord_id)
        return self._forward("batch_cancel", fields, urgent=True)

    # -- plumbing --------------------------------------------------------------------------------

    def _forward(
        self, method: str, fields: dict[str, Any], *, urgent: bool = False, expected_frames: int = 1
    ) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            self._require_running()
            params = build_params(method, fields)
        except (LocalRejection, EngineStopped) as exc:
            future.set_exception(exc)
            return future
        self._enqueue(ForwardRequest(method, params, future, urgent, expected_frames))
        return future

    def _check_rules(self, method: str, params: dict[str, Any]) -> None:
        instruments = self._instruments
        if instruments is not None and self.config.instrument_checks:
            instruments.check(method, params)

    def _check_amend(self, symbol: str, params: Mapping[str, Any]) -> None:
        instruments = self._instruments
        if instruments is not None and self.config.instrument_checks:
            instruments.check_amend(symbol, params)

    def _enqueue(self, command: PlaceOrders | ForwardRequest) -> None:
        orders = self._orders
        assert orders is not None
        with contextlib.suppress(pykka.ActorDeadError):
            self._intake.submit(command, orders)
        if not orders.is_alive():
            # the order manager stopped, maybe after this caller passed _require_running, and
            # has drained the intake already: fail what is left, this command included
            self._intake.fail_all(self._stopped_error)

    def _stopped_error(self, method: str) -> EngineStopped:
        if self._failure is not None:
            return EngineFailed(f"{method}: engine failed ({self._failure}); nothing was sent")
        return EngineStopped(f"{method}: engine stopped before sending")

    def _require_running(self) -> pykka.ActorRef[ConnectionActor]:
        if self._failure is not None:
            raise EngineFailed(
                f"engine failed ({self._failure}); start a new one on the same database: "
                "it reconciles with Kraken before it sends anything"
            )
        if self._state != "running" or self._connection is None:
            raise EngineStopped(f"engine is {self._state}; not accepting requests")
        return self._connection


def _through(orders: pykka.ActorRef[OrderManagerActor], sessions: sessionmaker[Session]) -> Write:
    """Writes go through the order manager while it runs, so that the process has one SQLite
    writer; before it starts and after it stops, on a session of their own."""
    proxy = orders.proxy()
    direct = session_writer(sessions)

    def write(work: Callable[[Session], Any]) -> Any:
        try:
            return proxy.write(work).get(timeout=30)
        except pykka.ActorDeadError:
            return direct(work)

    return write


def _with_identity(fields: dict[str, Any]) -> dict[str, Any]:
    """Give the order a cl_ord_id unless the caller chose an identity (or Kraken forbids one)."""
    if (
        fields.get("cl_ord_id") is None
        and fields.get("order_userref") is None
        and fields.get("conditional") is None
    ):
        return {**fields, "cl_ord_id": new_cl_ord_id(_RANDOM(16))}
    return fields


def _log_event(event: Event) -> None:
    data = event.data
    if event.name == "reconnecting" and isinstance(data, dict):
        # a failed attempt was logged as an `exception` a moment ago; a drop says why here
        why = "" if data.get("error") is not None else f" ({data.get('reason')})"
        log.info("reconnecting in %.2f s%s", data.get("in_s", 0.0), why)
        return
    log.info("%s %s", event.name, data if data is not None else "")


def _log_exception(event: Event) -> None:
    log.warning("exception: %s", event.data)
