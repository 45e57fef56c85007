"""The engine process killed with SIGKILL mid-run, then restarted on the same database (issue
#7): orders that were not terminal are reconciled before new orders go out, and the database
equals the ground truth. Simulator tier: `unlimited`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from chaos_support import (
    IN_FLIGHT,
    LIVE,
    TIER,
    Watch,
    assert_database_matches_simulator,
    resting,
    wait_quiescent,
)

from engine import Engine
from engine.simulator import Simulator
from persistence.history import History

HERE = Path(__file__).parent
RESTING = 4
BURST = 200


@pytest.fixture
def spawn(sim: Simulator, database_url: str) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start the strategy process of crash_engine.py on the test's database; killed afterwards."""
    procs: list[subprocess.Popen[str]] = []

    def _spawn(**env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "crash_engine.py")],
            env={
                **os.environ,
                "KRAKEN_API_KEY": sim.api_key,
                "KRAKEN_API_SECRET": sim.api_secret,
                "KRAKEN_WS_URL": sim.ws_url,
                "KRAKEN_REST_URL": sim.rest_url,
                "KRAKEN_DATABASE_URL": database_url,
                "KRAKEN_RATE_LIMIT_TIER": TIER,
                "KRAKEN_TEST_ORDERS": str(RESTING),
                **env,
            },
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        return proc

    yield _spawn
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=5) == -signal.SIGKILL


def _open(sim: Simulator) -> list[dict[str, Any]]:
    return [o for o in sim.control.state()["orders"] if o["status"] in ("new", "partially_filled")]


def test_killed_mid_run_then_restarted_reconciles_before_new_orders(
    spawn: Callable[..., subprocess.Popen[str]],
    make_engine: Callable[..., Engine],
    sim: Simulator,
    database_url: str,
) -> None:
    proc = spawn(KRAKEN_DEAD_MANS_SWITCH_TIMEOUT="0", KRAKEN_TEST_BURST=str(BURST))
    # acknowledgements held back; the socket drops a few frames into the burst and stays
    # refused; then the kill: rows in flight, some of them live on the venue, some never sent
    sim.control.delay_responses(3)
    sim.control.refuse_connections(10_000)
    sim.control.drop_after(5)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "BURST"
    state = sim.control.wait_for(
        lambda s: s["faults_fired"]["refuse_connections"] >= 1 and s["connections"] == 0,
        timeout=10,
    )
    _kill(proc)
    sim.control.reset_faults()
    fired = state["faults_fired"]
    assert fired["drop_after"] == 1 and fired["delay_responses"] >= 1
    rows = History(database_url).orders()
    before = {r.cl_ord_id: r.status for r in rows}
    in_flight = [cid for cid, status in before.items() if status in ("pending_submit", "submitted")]
    assert in_flight, f"the kill should leave orders in flight: {before}"

    # while nobody watches: fills, complete and partial, on resting and burst orders
    venue = {o["cl_ord_id"]: o["order_id"] for o in sim.control.state()["orders"]}
    sim.control.fill(venue["rest-0"])
    sim.control.fill(venue["rest-1"], qty=Decimal("0.4"))
    live_in_flight = [cid for cid in in_flight if cid in venue]
    for cid in live_in_flight[:2]:
        sim.control.fill(venue[cid], qty=Decimal("0.1"), price=Decimal("90001.0"))

    engine = make_engine(request_timeout=5.0)
    watch = Watch(engine)
    new_order = engine.submit_spot_order(**resting(price="20100.0", cl_ord_id="after-restart"))
    assert new_order.result(timeout=15).result.order_id
    # its answer may resolve the future before the events thread has delivered the event that
    # says it was sent (a failure seen once in three full runs: `assert 9 < -1`)
    watch.wait(lambda w: w.index("order_submitted", "after-restart") >= 0)
    reconciled = watch.index("reconciled")
    assert 0 <= reconciled < watch.index("order_submitted", "after-restart")
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    statuses = {o["cl_ord_id"]: o["status"] for o in truth["orders"].values()}
    assert statuses["rest-0"] == "filled" and statuses["rest-1"] == "partially_filled"
    for cid in live_in_flight[:2]:
        assert statuses[cid] == "partially_filled"
    after = {r.cl_ord_id: r for r in History(database_url).orders()}
    assert len(after) == len(before) + 1
    # every row the kill left in flight is settled: on the venue with its id, or never placed
    for cid in in_flight:
        row = after[cid]
        assert row.status not in IN_FLIGHT, (cid, row.status)
        assert (row.order_id is not None) == (cid in venue), (cid, row.status)
        assert row.status == "not_sent" or cid in venue
    print(f"crash: {len(in_flight)} in flight at the kill, {len(live_in_flight)} of them live")


def test_killed_past_the_dead_mans_switch_then_restart_records_the_cancels(
    spawn: Callable[..., subprocess.Popen[str]],
    make_engine: Callable[..., Engine],
    sim: Simulator,
    database_url: str,
) -> None:
    proc = spawn(KRAKEN_DEAD_MANS_SWITCH_TIMEOUT="2", KRAKEN_DEAD_MANS_SWITCH_INTERVAL="1")
    assert len(_open(sim)) == RESTING
    _kill(proc)
    state = sim.control.wait_for(
        lambda s: all(o["status"] == "canceled" for o in s["orders"]), timeout=10
    )
    assert state["dead_mans_switch"][sim.api_key]["fired_count"] == 1
    # as the kill left it: all still live in the database (the last acknowledgement may have
    # resolved its future before the order manager committed it: the database follows
    # executions, and the process died first)
    assert {r.status for r in History(database_url).orders()} <= LIVE

    engine = make_engine()
    watch = Watch(engine)
    engine.connect()
    watch.wait_count("reconciled", 1, timeout=15)
    wait_quiescent(engine, watch)
    assert_database_matches_simulator(engine, sim)
    rows = History(database_url).orders()
    assert len(rows) == RESTING
    assert {(r.status, r.reason) for r in rows} == {("canceled", "CancelAllOrdersAfter Timeout")}
