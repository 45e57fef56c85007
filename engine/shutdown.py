"""Safe shutdown: every step explicit, each one verified before the next begins.

Theory of operation. The dead man's switch is the account's last line of defence, so it is
disarmed last, and only once Kraken itself (REST OpenOrders, not our own book) has shown that
no order is open. A step that cannot be verified ends the sequence: the engine still closes,
but the switch stays armed, so Kraken cancels every open order at its trigger time. An operator
therefore never loses the safety net by asking for a shutdown that went wrong.

With an engine alive (`EngineShutdown`, run by `Engine.shutdown`, a control row or a signal):

1. stop accepting: new calls fail with `EngineStopped`;
2. settle in flight: wait until no request is queued or unanswered (each resolves at the
   latest at `request_timeout`, as confirmed, refused or outcome-unknown);
3. cancel all (unless `keep_orders`): `cancel_all` on the socket, `CancelAll` over REST if that
   fails, so the executions channel still tells the order manager what was cancelled;
4. verify over REST that OpenOrders is empty (or, keeping orders, list what rests);
5. disarm the dead man's switch: automatic re-arming stops, then `cancel_all_orders_after(0)`,
   verified by Kraken's answer (no trigger time); REST `CancelAllOrdersAfter` as the fallback;
6. close: the actors stop (the run is recorded `stopped`), then any order row still live is
   settled from REST, since the order manager no longer writes;
7. verify the record: the run reads `stopped` and no order row is live (unless kept).

With no engine alive (`rest_shutdown`, run by `kraken-router shutdown`): CancelAll, OpenOrders
empty, CancelAllOrdersAfter 0, then settle the database rows from REST (QueryOrders by order id,
OpenOrders/ClosedOrders by cl_ord_id), so the database shows every order's final state.

Each step is reported to a `StepSink` as it finishes (the control row, the log, the console).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from sqlalchemy.orm import Session, sessionmaker

from actors.dead_mans_switch import CallerArm
from actors.messages import ForwardRequest
from actors.operator import OperatorWatcher
from engine.domain.reports import OrderStatusReport
from engine.errors import EngineStopped, KrakenRouterError
from engine.kraken.pairs import PairMap
from engine.kraken.rest import (
    parse_cancel_all,
    parse_cancel_all_orders_after,
    parse_closed_orders,
    parse_open_orders,
    parse_query_orders,
    parse_query_trades,
)
from engine.kraken.trading import build_params
from persistence import control, repository
from persistence.db import make_engine, make_sessionmaker, session_writer
from persistence.models import EngineRunRow

if TYPE_CHECKING:
    from engine.api import Engine

__all__ = [
    "RestLike",
    "ShutdownCoordinator",
    "ShutdownReport",
    "Step",
    "StepSink",
    "rest_shutdown",
    "settle_orders_from_rest",
]

log = logging.getLogger("kraken_router.shutdown")

_QUERY_MAX = 50
_TERMINAL = frozenset({"filled", "canceled", "expired", "rejected", "not_sent"})
_KNOWN = frozenset({"pending_new", "new", "partially_filled", *_TERMINAL})


class RestLike(Protocol):
    """What the sequence needs from `actors.rest_client.RestClient` (fakes implement it too)."""

    def private(self, method: str, params: Any = None) -> Any: ...

    def public(self, method: str, params: Any = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One verified (or failed) step; `detail` says what was verified, or why not."""

    name: str
    ok: bool
    detail: str
    at: datetime

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "at": self.at.isoformat()}


@dataclass(slots=True)
class ShutdownReport:
    ok: bool = False
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    request_id: int | None = None


StepSink = Callable[[Step], None]


class _Failed(Exception):
    """A step could not be verified; its message is the operator's reason."""


class _Steps:
    def __init__(self, report: ShutdownReport, sinks: Iterable[StepSink]) -> None:
        self._report = report
        self._sinks = list(sinks)

    def record(self, name: str, ok: bool, detail: str) -> None:
        step = Step(name, ok, detail, datetime.now(UTC))
        self._report.steps.append(step)
        (log.info if ok else log.warning)("shutdown step %s: %s %s", name, ok and "ok", detail)
        for sink in self._sinks:
            try:
                sink(step)
            except Exception:  # a sink (the database) failing must not stop the sequence
                log.exception("shutdown step %s not reported", name)

    def ok(self, name: str, detail: str) -> None:
        self.record(name, True, detail)

    def fail(self, name: str, detail: str) -> _Failed:
        self.record(name, False, detail)
        return _Failed(f"{name}: {detail}")


class _Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self, cap: float | None = None) -> float:
        left = max(0.0, self._end - self._clock())
        return left if cap is None else min(left, cap)

    def wait_until(self, predicate: Callable[[], bool], cap: float, every: float = 0.05) -> bool:
        """Poll `predicate` until true or `cap` (bounded by the deadline) has passed."""
        end = self._clock() + self.remaining(cap)
        pause = threading.Event()
        while True:
            if predicate():
                return True
            if self._clock() >= end:
                return False
            pause.wait(min(every, max(0.0, end - self._clock())))


# --- REST building blocks (shared by the engine's fallbacks and the script) -----------------


def _rest_cancel_all(rest: RestLike) -> int:
    return parse_cancel_all(rest.private("CancelAll", {}))


def _rest_open_orders(rest: RestLike) -> list[OrderStatusReport]:
    return parse_open_orders(rest.private("OpenOrders", {}))


def _rest_disarm(rest: RestLike) -> datetime | None:
    return parse_cancel_all_orders_after(
        rest.private("CancelAllOrdersAfter", {"timeout": 0})
    ).trigger_time


def _verify_no_open_orders(rest: RestLike, steps: _Steps, deadline: _Deadline) -> None:
    """OpenOrders may briefly lag a cancel: re-read until empty, within the deadline."""
    seen: list[OrderStatusReport] = []
    errors: list[str] = []

    def empty() -> bool:
        nonlocal seen
        try:
            seen = _rest_open_orders(rest)
        except KrakenRouterError as exc:
            errors.append(str(exc))
            return False
        return not seen

    if deadline.wait_until(empty, cap=10.0, every=0.25):
        steps.ok("verify_no_open_orders", "REST OpenOrders lists no open order")
        return
    if seen:
        ids = ", ".join(r.order_id for r in seen[:5])
        raise steps.fail("verify_no_open_orders", f"{len(seen)} order(s) still open: {ids}")
    raise steps.fail("verify_no_open_orders", f"OpenOrders failed: {errors[-1] if errors else '?'}")


def _pair_map(rest: RestLike) -> PairMap | None:
    try:
        return PairMap.from_asset_pairs(rest.public("AssetPairs"))
    except KrakenRouterError as exc:
        log.warning("AssetPairs unavailable: %s", exc)
        return None


def settle_orders_from_rest(
    sessions: sessionmaker[Session],
    account: str,
    rest: RestLike,
    *,
    request_timeout: float = 10.0,
    rest_lag_s: float = 10.0,
    now: datetime | None = None,
) -> tuple[int, list[str]]:
    """Bring every live order row of `account` to what Kraken says; returns (settled, unresolved).

    Only for when no engine writes this account (after it stopped, or died): the order manager
    is otherwise the single writer. Rows with an order id are looked up with QueryOrders, rows
    without one by cl_ord_id in OpenOrders and ClosedOrders. A row with no trace anywhere is
    concluded never placed only after its deadline (or send + request_timeout) plus
    `rest_lag_s`, as reconciliation does; younger ones stay unresolved.
    """
    moment = now or datetime.now(UTC)
    with sessions() as session:
        rows = [
            (r.id, r.order_id, r.cl_ord_id, r.status, r.deadline, r.sent_at or r.created_at)
            for r in repository.live_orders(session, account)
        ]
    if not rows:
        return 0, []
    pairs = _pair_map(rest)
    reports: dict[str, OrderStatusReport] = {}
    by_cl: dict[str, OrderStatusReport] = {}
    known = [oid for _, oid, *_ in rows if oid]
    for i in range(0, len(known), _QUERY_MAX):
        chunk = known[i : i + _QUERY_MAX]
        result = rest.private("QueryOrders", {"txid": ",".join(chunk), "trades": True})
        for queried in parse_query_orders(result, pairs):
            reports[queried.order_id] = queried
    for _, oid, cl, *_ in rows:
        if oid or not cl:
            continue
        found = parse_open_orders(rest.private("OpenOrders", {"cl_ord_id": cl}), pairs)
        if not found:
            found, _count = parse_closed_orders(
                rest.private("ClosedOrders", {"cl_ord_id": cl}), pairs
            )
        if found:
            by_cl[cl] = found[0]
    settled = 0
    unresolved: list[str] = []
    with sessions() as session, session.begin():
        for pk, oid, cl, status, deadline, sent in rows:
            report = reports.get(oid or "") or by_cl.get(cl or "")
            name = oid or cl or f"#{pk}"
            if report is None:
                horizon = (deadline or sent + timedelta(seconds=request_timeout)) + timedelta(
                    seconds=rest_lag_s
                )
                if oid is None and moment >= horizon:
                    _write(session, account, pk, status, "not_sent", {}, moment, "never_placed")
                    settled += 1
                else:
                    unresolved.append(name)
                continue
            new_status = report.order_status if report.order_status in _KNOWN else None
            if new_status is None:
                unresolved.append(name)
                continue
            fields: dict[str, Any] = {"order_id": report.order_id}
            if report.cum_qty is not None:
                fields["cum_qty"] = report.cum_qty
            if report.cum_cost is not None:
                fields["cum_cost"] = report.cum_cost
            if report.avg_price is not None and report.cum_qty:
                fields["avg_price"] = report.avg_price
            if report.reason:
                fields["reason"] = report.reason
            if new_status in _TERMINAL:
                fields["closed_at"] = report.timestamp or moment
            _write(session, account, pk, status, new_status, fields, moment, "settled", report)
            _insert_fills(session, account, pk, report, rest, pairs)
            settled += 1
    return settled, unresolved


def _write(
    session: Session,
    account: str,
    pk: int,
    before: str,
    after: str,
    fields: dict[str, Any],
    at: datetime,
    kind: str,
    report: OrderStatusReport | None = None,
) -> None:
    repository.update_order(session, pk, status=after, updated_at=at, **fields)
    repository.append_event(
        session,
        account=account,
        order_pk=pk,
        at=at,
        source="operator",
        kind=kind,
        status_before=before,
        status_after=after,
        raw=report.raw if report is not None else {"reason": "no trace on REST past the horizon"},
    )


def _insert_fills(
    session: Session,
    account: str,
    pk: int,
    report: OrderStatusReport,
    rest: RestLike,
    pairs: PairMap | None,
) -> None:
    trade_ids = [str(t) for t in report.raw.get("trades") or []]
    for i in range(0, len(trade_ids), 20):
        result = rest.private("QueryTrades", {"txid": ",".join(trade_ids[i : i + 20])})
        for fill in parse_query_trades(result, pairs):
            repository.insert_fill(session, account=account, order_pk=pk, fill=fill)


def rest_shutdown(
    rest: RestLike,
    sessions: sessionmaker[Session] | None,
    account: str,
    *,
    keep_orders: bool = False,
    timeout: float = 60.0,
    sinks: Iterable[StepSink] = (),
    monotonic: Callable[[], float] | None = None,
) -> ShutdownReport:
    """The sequence without an engine: the account's orders and switch, straight over REST."""
    report = ShutdownReport()
    steps = _Steps(report, sinks)
    deadline = _Deadline(timeout, monotonic or time.monotonic)
    try:
        if keep_orders:
            steps.ok("cancel_all", "skipped: --keep-orders")
            try:
                resting = _rest_open_orders(rest)
            except KrakenRouterError as exc:
                raise steps.fail("verify_open_orders", f"OpenOrders failed: {exc}") from exc
            steps.ok("verify_open_orders", f"{len(resting)} order(s) left resting on purpose")
        else:
            try:
                count = _rest_cancel_all(rest)
            except KrakenRouterError as exc:
                raise steps.fail("cancel_all", f"CancelAll refused: {exc}") from exc
            steps.ok("cancel_all", f"CancelAll cancelled {count} order(s)")
            _verify_no_open_orders(rest, steps, deadline)
        try:
            trigger = _rest_disarm(rest)
        except KrakenRouterError as exc:
            raise steps.fail("disarm_dead_mans_switch", f"refused: {exc}") from exc
        if trigger is not None:
            raise steps.fail("disarm_dead_mans_switch", f"still armed until {trigger.isoformat()}")
        steps.ok("disarm_dead_mans_switch", "CancelAllOrdersAfter 0: Kraken reports no trigger")
        if sessions is not None:
            _settle_step(rest, sessions, account, steps)
        report.ok = True
    except _Failed as exc:
        report.error = str(exc)
    return report


def _settle_step(
    rest: RestLike,
    sessions: sessionmaker[Session],
    account: str,
    steps: _Steps,
    request_timeout: float = 10.0,
    rest_lag_s: float = 10.0,
) -> None:
    try:
        settled, unresolved = settle_orders_from_rest(
            sessions, account, rest, request_timeout=request_timeout, rest_lag_s=rest_lag_s
        )
    except KrakenRouterError as exc:
        raise steps.fail("settle_database", f"REST lookup failed: {exc}") from exc
    if unresolved:
        raise steps.fail(
            "settle_database",
            f"{len(unresolved)} order(s) not yet traceable on REST: {', '.join(unresolved[:5])}",
        )
    steps.ok("settle_database", f"{settled} order row(s) settled from REST")


# --- the engine's sequence --------------------------------------------------------------------


class ShutdownCoordinator:
    """Owned by one `Engine`: runs the sequence at most once, from whichever trigger comes first
    (API call, control row, SIGTERM/SIGINT), and lets others wait for its verdict."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self._report: ShutdownReport | None = None
        self._watcher: OperatorWatcher | None = None

    # -- the watcher (started and stopped with the engine) ------------------------------------

    def start_watching(self, heartbeat_interval: float | None = None) -> None:
        engine = self._engine
        assert engine._run_id is not None
        interval = heartbeat_interval or engine.config.heartbeat_interval
        self._watcher = OperatorWatcher(
            sessions=engine._sessions,
            account=engine.config.account,
            run_id=engine._run_id,
            clock=engine._clock,
            status=self._status,
            on_request=self._on_request,
            heartbeat_interval=interval,
            write=engine._write or session_writer(engine._sessions),
        )
        self._watcher.start()

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def _status(self) -> dict[str, Any]:
        engine = self._engine
        status: dict[str, Any] = {"engine_state": engine.state, "pid": os.getpid()}
        connection = engine._connection
        if connection is not None:
            info = connection.proxy().describe().get(timeout=2)
            status["connection_state"] = info.get("state")
            status["pending"] = info.get("pending")
            status["queued"] = info.get("queued")
        if engine._dms is not None:
            status["dead_mans_switch"] = engine._dms.proxy().describe().get(timeout=2)
        status["in_flight"] = self._in_flight()
        return status

    def _on_request(self, request: control.ControlRequest) -> None:
        options = request.options
        timeout = float(options.get("timeout", 60.0))
        self.start_in_thread(
            keep_orders=bool(options.get("keep_orders", False)),
            # report before the operator's script gives up on us
            timeout=max(1.0, timeout - 2.0),
            request_id=request.id,
        )

    # -- triggers ------------------------------------------------------------------------------

    def start_in_thread(
        self, *, keep_orders: bool, timeout: float, request_id: int | None = None
    ) -> bool:
        """Start the sequence on its own thread; False when one already runs or ran."""
        with self._lock:
            if self._started:
                return False
            self._started = True
        threading.Thread(
            target=self._run,
            args=(keep_orders, timeout, request_id, "control" if request_id else "signal"),
            name="kraken-router-shutdown",
            daemon=False,
        ).start()
        return True

    def run(
        self, *, keep_orders: bool, timeout: float, requested_by: str = "api"
    ) -> ShutdownReport:
        """Run the sequence in the caller's thread (or wait for the one already running)."""
        with self._lock:
            started, self._started = self._started, True
        if started:
            return self.wait(timeout) or ShutdownReport(error="shutdown already in progress")
        return self._run(keep_orders, timeout, None, requested_by)

    def wait(self, timeout: float | None = None) -> ShutdownReport | None:
        """The verdict, once the sequence has finished; None if it has not within `timeout`."""
        self._done.wait(timeout)
        return self._report

    def install_signal_handlers(self, *, keep_orders: bool, timeout: float) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.start_in_thread(keep_orders=keep_orders, timeout=timeout):
                log.warning("%s: safe shutdown started", name)
            else:
                log.warning("%s: safe shutdown already in progress", name)

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    # -- the sequence --------------------------------------------------------------------------

    def _run(
        self, keep_orders: bool, timeout: float, request_id: int | None, requested_by: str
    ) -> ShutdownReport:
        engine = self._engine
        report = ShutdownReport(request_id=request_id)
        reporter = _ControlReporter(engine.config.database_url)
        try:
            if self._watcher is not None:
                self._watcher.stop_claiming()
            report.request_id = reporter.open(
                request_id,
                account=engine.config.account,
                run_id=engine._run_id,
                options={"keep_orders": keep_orders, "timeout": timeout},
                requested_by=requested_by,
            )
            steps = _Steps(report, [reporter.step])
            try:
                self._sequence(steps, keep_orders, timeout)
                report.ok = True
            except _Failed as exc:
                report.error = str(exc)
            except Exception as exc:  # never leave the operator without a verdict
                log.exception("safe shutdown crashed")
                report.error = f"internal error: {type(exc).__name__}: {exc}"
            finally:
                if engine.state not in ("stopped", "new"):
                    engine.stop()
            reporter.finish(report)
        finally:
            reporter.close()
            self._report = report
            self._done.set()
        return report

    def _sequence(self, steps: _Steps, keep_orders: bool, timeout: float) -> None:
        engine = self._engine
        config = engine.config
        deadline = _Deadline(timeout, engine._clock.monotonic)
        rest = engine._rest
        assert rest is not None
        # 1. stop accepting
        with engine._lock:
            if engine._state != "running":
                raise steps.fail("stop_accepting", f"engine is {engine._state}")
            engine._state = "shutting_down"
        steps.ok("stop_accepting", "new requests now fail with EngineStopped")
        # 2. settle in flight
        if not deadline.wait_until(
            lambda: self._in_flight() == 0, cap=config.request_timeout + 2.0
        ):
            raise steps.fail("settle_in_flight", f"{self._in_flight()} request(s) still pending")
        steps.ok("settle_in_flight", "no request queued or awaiting an answer")
        # 3. cancel all, 4. verify
        if keep_orders:
            steps.ok("cancel_all", "skipped: keep_orders")
            try:
                resting = _rest_open_orders(rest)
            except KrakenRouterError as exc:
                raise steps.fail("verify_open_orders", f"OpenOrders failed: {exc}") from exc
            steps.ok("verify_open_orders", f"{len(resting)} order(s) left resting on purpose")
        else:
            self._cancel_all(steps, deadline)
            _verify_no_open_orders(rest, steps, deadline)
        # 5. disarm
        self._disarm(steps, deadline)
        # the executions channel reports the cancels: let the order manager write them
        if not keep_orders:
            deadline.wait_until(lambda: not self._local_live(), cap=3.0)
        # 6. close
        run_id = engine._run_id
        engine.stop()
        steps.ok("close", "actors stopped, socket closed")
        # 7. settle leftovers and verify the record
        db = make_engine(config.database_url)
        sessions = make_sessionmaker(db)
        try:
            if not keep_orders:
                _settle_step(
                    rest_for(engine), sessions, config.account, steps,
                    config.request_timeout, config.rest_lag_s,
                )  # fmt: skip
            with sessions() as session:
                run = session.get(EngineRunRow, run_id) if run_id is not None else None
                live = len(repository.live_orders(session, config.account))
            if run is None or run.state != "stopped":
                raise steps.fail("record_stopped", f"run reads {run and run.state!r}")
            steps.ok(
                "record_stopped",
                f"run {run_id} recorded stopped; {live} live order row(s)"
                + (" (kept on purpose)" if keep_orders else ""),
            )
        finally:
            db.dispose()

    def _cancel_all(self, steps: _Steps, deadline: _Deadline) -> None:
        engine = self._engine
        future: Future[Any] = Future()
        # past stop_accepting the public methods refuse: the same intake, one nudge per burst
        engine._enqueue(
            ForwardRequest("cancel_all", build_params("cancel_all", {}), future, True, 1)
        )
        ws_error: str
        try:
            response = future.result(
                timeout=deadline.remaining(engine.config.request_timeout + 1.0)
            )
            count = getattr(getattr(response, "result", None), "count", None)
            steps.ok("cancel_all", f"cancel_all cancelled {count} order(s)")
            return
        except KrakenRouterError as exc:
            ws_error = f"{type(exc).__name__}: {exc}"
        except TimeoutError:
            ws_error = "no answer in time"
        log.warning("cancel_all on the socket failed (%s); trying REST CancelAll", ws_error)
        try:
            count = _rest_cancel_all(rest_for(engine))
        except KrakenRouterError as exc:
            raise steps.fail(
                "cancel_all", f"refused: {ws_error} (WebSocket); {exc} (REST CancelAll)"
            ) from exc
        steps.ok("cancel_all", f"REST CancelAll cancelled {count} order(s) (socket: {ws_error})")

    def _disarm(self, steps: _Steps, deadline: _Deadline) -> None:
        engine = self._engine
        assert engine._dms is not None
        engine._dms.proxy().shut_down(False).get(timeout=deadline.remaining(5.0) or 0.1)
        future: Future[Any] = Future()
        engine._dms.tell(CallerArm(0, future))
        ws_error: str
        try:
            response = future.result(
                timeout=deadline.remaining(engine.config.request_timeout + 1.0)
            )
            trigger = getattr(getattr(response, "result", None), "trigger_time", None)
            if trigger is None:
                steps.ok("disarm_dead_mans_switch", "cancel_all_orders_after 0: no trigger time")
                return
            ws_error = f"still armed until {trigger}"
        except KrakenRouterError as exc:
            ws_error = f"{type(exc).__name__}: {exc}"
        except TimeoutError:
            ws_error = "no answer in time"
        try:
            rest_trigger = _rest_disarm(rest_for(engine))
        except KrakenRouterError as exc:
            raise steps.fail(
                "disarm_dead_mans_switch", f"refused: {ws_error} (WebSocket); {exc} (REST)"
            ) from exc
        if rest_trigger is not None:
            raise steps.fail("disarm_dead_mans_switch", f"still armed until {rest_trigger}")
        steps.ok("disarm_dead_mans_switch", f"REST CancelAllOrdersAfter 0 (socket: {ws_error})")

    def _in_flight(self) -> int:
        engine = self._engine
        count = engine._intake.qsize()
        with contextlib.suppress(Exception):
            if engine._orders is not None:
                count += int(engine._orders.proxy().stats().get(timeout=2)["deferred"])
            limiter = getattr(engine, "_limiter", None)  # absent under the `unlimited` tier
            if limiter is not None:
                count += int(limiter.proxy().stats().get(timeout=2)["waiting"])
            if engine._connection is not None:
                info = engine._connection.proxy().describe().get(timeout=2)
                count += int(info["pending"]) + int(info["queued"])
        return count

    def _local_live(self) -> int:
        engine = self._engine
        try:
            return len(engine.open_orders(timeout=2))
        except (EngineStopped, pykka.ActorDeadError, TimeoutError):
            return 0


def rest_for(engine: Engine) -> RestLike:
    """The engine's REST client; it outlives `stop()` (closing only drops pooled sockets)."""
    assert engine._rest is not None
    return engine._rest


class _ControlReporter:
    """Writes the sequence's progress into its control row on a database engine of its own:
    the engine's own one is disposed halfway through the sequence."""

    def __init__(self, url: str) -> None:
        self._db = make_engine(url)
        self._sessions = make_sessionmaker(self._db)
        self._id: int | None = None

    def open(
        self,
        request_id: int | None,
        *,
        account: str,
        run_id: int | None,
        options: dict[str, Any],
        requested_by: str,
    ) -> int:
        with self._sessions() as session, session.begin():
            if request_id is None:
                request_id = control.insert_request(
                    session,
                    account=account,
                    at=datetime.now(UTC),
                    options=options,
                    run_id=run_id,
                    requested_by=f"{requested_by}@{socket.gethostname()}:{os.getpid()}",
                    state="accepted",
                )
        self._id = request_id
        return request_id

    def step(self, step: Step) -> None:
        if self._id is None:
            return
        with self._sessions() as session, session.begin():
            control.append_step(session, self._id, step.to_json_dict())

    def finish(self, report: ShutdownReport) -> None:
        if self._id is None:
            return
        with self._sessions() as session, session.begin():
            control.set_state(
                session,
                self._id,
                "done" if report.ok else "failed",
                at=datetime.now(UTC),
                error=report.error,
            )

    def close(self) -> None:
        self._db.dispose()
