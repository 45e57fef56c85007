"""Requests whose outcome is unknown: the future says so, and the database still converges to
the exchange's truth (issue #7). Simulator tier: `unlimited`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from chaos_support import (
    Watch,
    assert_database_matches_simulator,
    ground_truth,
    resting,
    wait_quiescent,
)

from engine import Engine
from engine.errors import OutcomeUnknown
from engine.simulator import Simulator
from persistence.history import History


def test_swallowed_ack_then_drop_ends_with_order_id_and_true_state(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=5.0)
    watch = Watch(engine)
    engine.connect()
    # the ack is swallowed and the socket drops right after the pending_new report: the engine
    # never sees the ack nor the `new` report
    sim.control.refuse_connections(2)
    sim.control.swallow_responses(1)
    sim.control.drop_after(1)
    future = engine.submit_spot_order(**resting(qty="1.0", cl_ord_id="uo-drop"))
    with pytest.raises(OutcomeUnknown) as caught:
        future.result(timeout=6)
    assert caught.value.method == "add_order"
    [placed] = ground_truth(sim)["orders"].values()
    # filled in part while the engine is away
    sim.control.fill(placed["order_id"], qty=Decimal("0.4"))
    watch.wait_count("reconciled", 1, timeout=15)
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    fired = truth["state"]["faults_fired"]
    assert fired["swallow_responses"] == 1 and fired["drop_after"] == 1
    assert fired["refuse_connections"] == 2
    [row] = History(engine.config.database_url).orders(cl_ord_id="uo-drop")
    assert (row.order_id, row.status, row.cum_qty) == (
        placed["order_id"],
        "partially_filled",
        Decimal("0.4"),
    )


def test_service_unavailable_is_outcome_unknown_and_ends_not_sent_when_nothing_happened(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=1.0, rest_lag_s=1.0)
    watch = Watch(engine)
    engine.connect()
    sim.control.fail_requests(1, error="EService:Unavailable", transport="ws")
    future = engine.submit_spot_order(**resting(cl_ord_id="uo-unavailable"))
    with pytest.raises(OutcomeUnknown):
        future.result(timeout=3)
    # nothing was executed: after request_timeout + rest_lag_s with no trace, never placed
    watch.wait(lambda w: w.index("order_not_sent", "uo-unavailable") >= 0, timeout=10)
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    assert truth["orders"] == {}
    assert truth["state"]["faults_fired"]["fail_requests"] == 1
    [row] = History(engine.config.database_url).orders(cl_ord_id="uo-unavailable")
    assert row.status == "not_sent" and row.order_id is None
    # a reconciliation (REST found no trace past the horizon), not a guess, concluded it
    timeline = History(engine.config.database_url).timeline("uo-unavailable")
    assert timeline is not None
    assert (timeline.events[-1].source, timeline.events[-1].kind) == (
        "reconciliation",
        "never_placed",
    )


def test_swallowed_ack_of_a_live_order_ends_with_its_order_id_and_true_state(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=1.0)
    watch = Watch(engine)
    engine.connect()
    sim.control.swallow_responses(1)
    future = engine.submit_spot_order(**resting(qty="1.0", cl_ord_id="uo-live"))
    with pytest.raises(OutcomeUnknown):
        future.result(timeout=3)
    [placed] = ground_truth(sim)["orders"].values()
    sim.control.fill(placed["order_id"], qty=Decimal("0.3"), price=Decimal("19999.5"))
    watch.wait(lambda w: w.index("order_partially_filled", "uo-live") >= 0)
    wait_quiescent(engine, watch)
    assert_database_matches_simulator(engine, sim)
    [row] = History(engine.config.database_url).orders(cl_ord_id="uo-live")
    assert (row.order_id, row.status, row.avg_price) == (
        placed["order_id"],
        "partially_filled",
        Decimal("19999.5"),
    )
    assert sim.control.state()["faults_fired"]["swallow_responses"] == 1
