"""Fail-stop: an actor's unexpected exception stops the engine at once and loses nothing.

The fault is injected into the order manager's own code (a bug stands in for one); the socket,
the simulator and the SQLite file are real. Before fail-stop, such an exception stopped the
order manager alone: callers waited out their timeouts and the rest of the engine ran on.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
from engine_support import limit_buy

from actors.connection import ConnectionActor
from actors.order_manager import OrderManagerActor
from engine import Engine
from engine.errors import EngineFailed, EngineStopped, OutcomeUnknown
from engine.simulator import Simulator
from persistence.history import History


def _order(cl_ord_id: str) -> dict[str, Any]:
    return limit_buy(cl_ord_id=cl_ord_id)


def _break_placement(monkeypatch: pytest.MonkeyPatch, cl_ord_id: str) -> None:
    """A bug stands in: recording the placement of the order `cl_ord_id` raises."""
    record = OrderManagerActor._record_placement

    def broken(self: OrderManagerActor, session: Any, command: Any, now: Any) -> Any:
        if command.params.get("cl_ord_id") == cl_ord_id:
            raise RuntimeError("injected fault")
        return record(self, session, command, now)

    monkeypatch.setattr(OrderManagerActor, "_record_placement", broken)


class _Exceptions:
    def __init__(self, engine: Engine) -> None:
        self.seen: list[BaseException] = []
        self.failed = threading.Event()
        engine.on("exception", self._on)

    def _on(self, event: Any) -> None:
        self.seen.append(event.data)
        if isinstance(event.data, EngineFailed):
            self.failed.set()


def _run_states(engine: Engine) -> list[str]:
    path = engine.config.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [state for (state,) in db.execute("SELECT state FROM engine_runs ORDER BY id")]


def _restart_and_reconcile(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> Engine:
    monkeypatch.undo()  # the bug is fixed
    engine = make_engine()
    reconciled = threading.Event()
    engine.on("reconciled", lambda _e: reconciled.set())
    engine.connect()
    assert reconciled.wait(10)
    return engine


def _rows(engine: Engine) -> dict[str | None, Any]:
    return {row.cl_ord_id: row for row in History(engine.config.database_url).orders()}


def test_a_failure_placing_an_order_fails_its_caller_at_once_and_stops_the_engine(
    make_engine: Callable[..., Engine], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(request_timeout=60.0)  # a caller left waiting would wait a minute
    exceptions = _Exceptions(engine)
    resting = engine.submit_spot_order(**_order("resting")).result(timeout=5).result
    _break_placement(monkeypatch, "boom")

    failed = engine.submit_spot_order(**_order("boom")).exception(timeout=5)

    assert isinstance(failed, EngineFailed), failed
    assert "nothing was sent" in str(failed)
    assert exceptions.failed.wait(5), exceptions.seen
    assert engine.state == "failed"
    assert engine.failure is not None and "OrderManagerActor" in engine.failure
    assert "injected fault" in engine.failure
    later = engine.submit_spot_order(**_order("later"))
    assert later.done(), "refused at once, not after a timeout"
    assert isinstance(later.exception(), EngineFailed)
    with pytest.raises(EngineFailed):
        engine.connect(timeout=1)
    with pytest.raises(EngineFailed):  # a query too: a typed error, not pykka's
        engine.get_order("resting")
    engine.stop(timeout=10)
    assert engine.state == "failed"
    # the failed transaction rolled back: no row, and nothing reached Kraken
    assert set(_rows(engine)) == {"resting"}
    assert {o["cl_ord_id"] for o in sim.control.state()["orders"]} == {"resting"}
    assert _run_states(engine) == ["crashed"]
    # the resting order's answer may have been queued behind the failure, unapplied: the
    # next engine's reconciliation brings its state from Kraken before anything is sent
    _restart_and_reconcile(make_engine, monkeypatch)
    row = _rows(engine)["resting"]
    assert (row.order_id, row.status) == (resting.order_id, "new")


def test_after_a_failure_applying_a_fill_a_new_engine_converges_to_kraken(
    make_engine: Callable[..., Engine], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill's transaction rolled back with the failure; the restart's reconciliation
    brings it from Kraken, so the database ends where Kraken is."""
    engine = make_engine()
    exceptions = _Exceptions(engine)
    placed = engine.submit_spot_order(**_order("filled")).result(timeout=5).result

    def broken(self: OrderManagerActor, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected fault applying a fill")

    monkeypatch.setattr(OrderManagerActor, "_apply_fill", broken)
    sim.control.fill(placed.order_id)
    assert exceptions.failed.wait(5), exceptions.seen
    engine.stop(timeout=10)
    assert engine.state == "failed"
    before = _rows(engine)["filled"]  # the failed transaction wrote nothing, not even the
    assert (before.status, before.cum_qty) in {("pending_submit", 0), ("new", 0)}  # answer

    restarted = _restart_and_reconcile(make_engine, monkeypatch)
    row = _rows(restarted)["filled"]
    [truth] = sim.control.state()["orders"]
    assert (row.status, row.cum_qty, row.fees) == ("filled", truth["cum_qty"], truth["fees"])
    assert [f.exec_id for f in History(restarted.config.database_url).fills()] == [
        t["exec_id"] for t in sim.control.state()["trades"]
    ]
    placed_again = restarted.submit_spot_order(**_order("after")).result(timeout=5)
    assert placed_again.result.order_id


def test_a_caller_racing_the_failure_is_not_left_waiting(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orders submitted while the order manager dies all end, none hangs until a timeout."""
    engine = make_engine(request_timeout=60.0)
    _break_placement(monkeypatch, "boom-0")
    futures = [engine.submit_spot_order(**_order(f"boom-{i}")) for i in range(50)]
    outcomes = [future.exception(timeout=5) for future in futures]
    assert isinstance(outcomes[0], EngineFailed)
    # each later one was either placed before the failure, or refused as not sent
    assert all(o is None or isinstance(o, EngineStopped) for o in outcomes), outcomes
    assert engine.state == "failed"


def test_a_failure_handling_a_frame_on_the_reader_thread_stops_the_engine(
    make_engine: Callable[..., Engine], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames are handled on the socket reader's thread when the connection actor is free: a
    bug there fails the engine too, instead of passing for a dropped socket (a reconnect that
    would meet the same frame again). The order was sent: its caller learns the outcome is
    unknown, and the next engine's reconciliation finds it on Kraken."""
    engine = make_engine(request_timeout=60.0)
    engine.connect()
    exceptions = _Exceptions(engine)
    on_executions = ConnectionActor._on_executions

    def broken(self: ConnectionActor, frame: Any) -> Any:
        if "pending_new" in repr(frame):
            raise RuntimeError("injected fault in a frame's handling")
        return on_executions(self, frame)

    monkeypatch.setattr(ConnectionActor, "_on_executions", broken)
    outcome = engine.submit_spot_order(**_order("sent")).exception(timeout=5)

    assert exceptions.failed.wait(5), exceptions.seen
    assert engine.failure is not None and "ConnectionActor" in engine.failure
    assert outcome is None or isinstance(outcome, OutcomeUnknown), outcome  # it was sent
    engine.stop(timeout=10)
    _restart_and_reconcile(make_engine, monkeypatch)
    [truth] = sim.control.state()["orders"]
    row = _rows(engine)["sent"]
    assert (row.order_id, row.status) == (truth["order_id"], "new")


def test_after_a_failure_the_dead_mans_switch_lapses_and_kraken_cancels(
    make_engine: Callable[..., Engine], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody tracks the orders any more, so the switch is no longer re-armed: Kraken cancels
    them at its trigger time, and the next engine finds them canceled."""
    engine = make_engine(dead_mans_switch_timeout=2, dead_mans_switch_interval=0.5)
    armed = threading.Event()
    engine.on("dead_mans_switch", lambda _e: armed.set())
    exceptions = _Exceptions(engine)
    engine.submit_spot_order(**_order("resting")).result(timeout=5)
    assert armed.wait(5)
    _break_placement(monkeypatch, "boom")

    assert isinstance(engine.submit_spot_order(**_order("boom")).exception(timeout=5), EngineFailed)
    assert exceptions.failed.wait(5), exceptions.seen

    state = sim.control.wait_for(
        lambda s: all(o["status"] == "canceled" for o in s["orders"]), timeout=10
    )
    assert [o["reason"] for o in state["orders"]] == ["CancelAllOrdersAfter Timeout"]
    assert state["dead_mans_switch"][sim.api_key]["fired_count"] == 1
    engine.stop(timeout=10)
    _restart_and_reconcile(make_engine, monkeypatch)
    assert _rows(engine)["resting"].status == "canceled"


def test_a_failure_during_the_safe_shutdown_is_recorded_and_the_orders_still_canceled(
    make_engine: Callable[..., Engine], sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shutdown goes on over REST (CancelAll, OpenOrders, CancelAllOrdersAfter) and stops
    the engine itself; the failure is not hidden: typed errors, the event, a `crashed` run."""
    engine = make_engine()
    exceptions = _Exceptions(engine)
    engine.submit_spot_order(**_order("resting")).result(timeout=5)
    record = OrderManagerActor._record_forward

    def broken(self: OrderManagerActor, session: Any, command: Any, now: Any) -> Any:
        if command.method == "cancel_all":
            raise RuntimeError("injected fault")
        return record(self, session, command, now)

    monkeypatch.setattr(OrderManagerActor, "_record_forward", broken)

    report = engine.shutdown(timeout=30)

    assert exceptions.failed.is_set(), exceptions.seen
    assert engine.state == "failed"
    assert engine.failure is not None and "injected fault" in engine.failure
    assert [o["status"] for o in sim.control.state()["orders"]] == ["canceled"]
    assert _run_states(engine) == ["crashed"]
    assert not report.ok and report.error is not None and "crashed" in report.error
