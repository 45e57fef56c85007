"""`kraken-router shutdown`, `status` and `run` as real processes against the simulator.

Ground truth comes from the simulator (open orders, the dead man's switch) and from the SQLite
file the engine wrote (runs, orders, control requests), never from the script's own words.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.simulator import Simulator
from tests.operator.conftest import Proc, query


def _open(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in state["orders"] if o["status"] in ("pending_new", "new", "partially_filled")]


def _switch(sim: Simulator) -> dict[str, Any]:
    switch: dict[str, Any] = sim.control.state()["dead_mans_switch"][sim.api_key]
    return switch


def test_shutdown_of_a_live_engine_cancels_verifies_disarms_and_records(
    sim: Simulator,
    db_url: str,
    engine_proc: Callable[[], Proc],
    cli: Callable[..., tuple[int, str]],
) -> None:
    engine = engine_proc()
    assert len(_open(sim.control.state())) == 3
    assert _switch(sim)["armed"] is True
    rc, status_out = cli("status", "--db", db_url, "--json")
    status = json.loads(status_out)
    assert rc == 0 and status["live"] == 1
    assert status["runs"][0]["open_orders"] == 3
    assert status["runs"][0]["connection_state"] == "authenticated"
    assert status["runs"][0]["dms_trigger_at"] is not None

    rc, out = cli("shutdown", "--db", db_url, "--timeout", "20")
    assert rc == 0, out
    assert "sent to engine run" in out
    for step in ("stop_accepting", "settle_in_flight", "cancel_all", "verify_no_open_orders",
                 "disarm_dead_mans_switch", "close", "record_stopped"):  # fmt: skip
        assert f"[ok] {step}" in out, out
    assert engine.popen.wait(timeout=10) == 0
    state = sim.control.state()
    assert _open(state) == []
    assert {o["status"] for o in state["orders"]} == {"canceled"}
    assert _switch(sim)["armed"] is False and _switch(sim)["last_timeout"] == 0
    assert query(db_url, "SELECT state, connection_state FROM engine_runs") == [
        ("stopped", "closed")
    ]
    assert [r[0] for r in query(db_url, "SELECT status FROM orders")] == ["canceled"] * 3
    assert query(db_url, "SELECT state, error FROM control_requests") == [("done", None)]
    rc, _ = cli("status", "--db", db_url)
    assert rc == 1  # nothing live any more


def test_keep_orders_leaves_them_resting_and_still_disarms(
    sim: Simulator,
    db_url: str,
    engine_proc: Callable[[], Proc],
    cli: Callable[..., tuple[int, str]],
) -> None:
    engine = engine_proc()
    rc, out = cli("shutdown", "--db", db_url, "--keep-orders", "--timeout", "20")
    assert rc == 0, out
    assert "3 order(s) left resting on purpose" in out
    assert engine.popen.wait(timeout=10) == 0
    assert len(_open(sim.control.state())) == 3
    assert _switch(sim)["armed"] is False
    assert query(db_url, "SELECT state FROM engine_runs") == [("stopped",)]
    assert [r[0] for r in query(db_url, "SELECT status FROM orders")] == ["new"] * 3


def test_a_killed_engine_is_shut_down_over_rest_and_the_database_settled(
    sim: Simulator,
    db_url: str,
    engine_proc: Callable[[], Proc],
    cli: Callable[..., tuple[int, str]],
) -> None:
    engine = engine_proc()
    sim.control.fill(_open(sim.control.state())[0]["order_id"], qty=Decimal("0.25"))
    engine.popen.send_signal(signal.SIGKILL)
    engine.popen.wait(timeout=10)
    assert _switch(sim)["armed"] is True  # the venue timer outlives the process

    started = time.monotonic()
    rc, out = cli("shutdown", "--db", db_url, "--timeout", "20")

    assert rc == 0, out
    assert time.monotonic() - started < 20
    assert "no live engine" in out
    assert _open(sim.control.state()) == []
    assert _switch(sim)["armed"] is False and _switch(sim)["fired_count"] == 0
    rows = query(db_url, "SELECT status, cum_qty FROM orders ORDER BY id")
    assert [r[0] for r in rows] == ["canceled"] * 3
    assert Decimal(rows[0][1]) == Decimal("0.25")  # the partial fill the engine never saw
    assert query(db_url, "SELECT count(*) FROM fills") == [(1,)]
    assert query(db_url, "SELECT state, connection_state FROM engine_runs") == [
        ("crashed", "closed")
    ]
    assert query(db_url, "SELECT state FROM control_requests") == [("done",)]


def test_refused_cancels_make_the_script_fail_in_time_and_say_why(
    sim: Simulator,
    db_url: str,
    engine_proc: Callable[[], Proc],
    cli: Callable[..., tuple[int, str]],
) -> None:
    engine = engine_proc()
    sim.control.fail_requests(1000, error="EGeneral:Permission denied", transport="both")
    started = time.monotonic()
    rc, out = cli("shutdown", "--db", db_url, "--timeout", "15")
    assert rc == 1, out
    assert time.monotonic() - started < 15
    assert "[FAILED] cancel_all" in out and "EGeneral:Permission denied" in out, out
    assert "disarm_dead_mans_switch" not in out  # the switch stays armed as the safety net
    assert engine.popen.wait(timeout=10) == 1
    assert len(_open(sim.control.state())) == 3
    assert query(db_url, "SELECT state FROM control_requests") == [("failed",)]

    # no engine left: the REST path refuses just as loudly
    rc, out = cli("shutdown", "--db", db_url, "--timeout", "10")
    assert rc == 1, out
    assert "no live engine" in out and "EGeneral:Permission denied" in out


def test_sigterm_to_kraken_router_run_performs_the_verified_sequence(
    sim: Simulator,
    db_url: str,
    spawn: Callable[..., Proc],
    rest: Any,
) -> None:
    engine = spawn("-m", "scripts.cli", "run", "--timeout", "20")
    engine.wait_line("RUNNING", timeout=30)
    for i in range(2):
        rest.result(
            "AddOrder",
            {"ordertype": "limit", "type": "sell", "volume": "0.5", "pair": "XBTUSD",
             "price": str(90000 + i)},
            nonce=time.time_ns() // 1000,  # the engine's REST nonces are microseconds too
        )  # fmt: skip
    sim.control.wait_for(lambda s: len(_open(s)) == 2, timeout=10)
    assert _switch(sim)["armed"] is True
    engine.popen.send_signal(signal.SIGTERM)
    assert engine.popen.wait(timeout=30) == 0, engine.output()
    out = engine.output()
    assert "STOPPED cleanly" in out and "[ok] verify_no_open_orders" in out
    assert _open(sim.control.state()) == []
    assert _switch(sim)["armed"] is False
    assert query(db_url, "SELECT state FROM engine_runs") == [("stopped",)]
    assert query(db_url, "SELECT state, requested_by LIKE 'signal@%' FROM control_requests") == [
        ("done", 1)
    ]
