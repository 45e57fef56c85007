"""A socket drop with resting orders, fills while the engine cannot see, and order entry held
until the REST snapshot is applied (issue #7). Simulator tier: `unlimited`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from chaos_support import (
    Watch,
    assert_database_matches_simulator,
    resting,
    wait_quiescent,
)
from sqlalchemy import select

from engine import Engine
from engine.errors import NotSent
from engine.simulator import Simulator
from persistence.db import make_engine as make_db
from persistence.history import History
from persistence.models import ReconciliationRow


def test_fills_while_disconnected_converge_once_and_entry_waits_for_reconciliation(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    # the executions snapshot comes twice, and overlaps REST TradesHistory: three paths, one fill
    sim.control.set_behaviour(duplicate_snapshot=True)
    engine = make_engine(request_timeout=5.0)
    watch = Watch(engine)
    engine.connect()
    a = engine.submit_spot_order(**resting(qty="1.0", cl_ord_id="rc-a")).result(5).result
    b = engine.submit_spot_order(**resting(price="20001.0", cl_ord_id="rc-b")).result(5).result
    c = engine.submit_spot_order(**resting("sell", cl_ord_id="rc-c")).result(5).result
    sim.control.fill(a.order_id, qty=Decimal("0.25"))
    watch.wait(lambda w: w.index("order_partially_filled", "rc-a") >= 0)

    # the outage: dropped, and kept out by three refused handshakes
    sim.control.refuse_connections(3)
    closes = watch.count("close")
    sim.control.drop_connections()
    watch.wait_count("close", closes + 1)
    assert watch.count("reconciled") == 0
    # while the engine is blind: a fills completely (two fills), b partly at a better price,
    # c is cancelled by the strategy (queued until the socket is back), d is submitted
    sim.control.fill(a.order_id, qty=Decimal("0.5"))
    sim.control.fill(a.order_id)
    sim.control.fill(b.order_id, qty=Decimal("0.2"), price=Decimal("19990.0"))
    cancel = engine.cancel_spot_order(order_id=c.order_id)
    d_future = engine.submit_spot_order(**resting(price="20002.0", cl_ord_id="rc-d"))

    watch.wait_count("reconciled", 1, timeout=15)
    d = d_future.result(timeout=5).result
    assert cancel.result(timeout=5).success
    # d left only after the snapshot was applied (its answer may resolve the future before the
    # order manager has published the event that says it was sent)
    watch.wait(lambda w: w.index("order_submitted", "rc-d") >= 0)
    reconciled_at = watch.index("reconciled")
    assert 0 <= reconciled_at < watch.index("order_submitted", "rc-d")
    assert watch.index("reconnected") < reconciled_at

    watch.wait(lambda w: w.index("order_canceled", "rc-c") >= 0)
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    fired = truth["state"]["faults_fired"]
    assert fired["refuse_connections"] == 3 and fired["drop_connections"] == 1
    statuses = {o["cl_ord_id"]: o["status"] for o in truth["orders"].values()}
    assert statuses == {
        "rc-a": "filled",
        "rc-b": "partially_filled",
        "rc-c": "canceled",
        "rc-d": "new",
    }
    assert d.order_id == engine.get_order("rc-d").order_id  # type: ignore[union-attr]
    timeline = History(engine.config.database_url).timeline("rc-a")
    assert timeline is not None
    assert [f.qty for f in timeline.fills] == [Decimal("0.25"), Decimal("0.5"), Decimal("0.25")]
    assert timeline.order.fees == sum((f.fee for f in timeline.fills), Decimal(0))


def test_order_submitted_during_a_long_outage_fails_not_sent(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=1.0)
    watch = Watch(engine)
    engine.connect()
    engine.submit_spot_order(**resting(cl_ord_id="lo-a")).result(5)
    sim.control.refuse_connections(10_000)
    closes = watch.count("close")
    sim.control.drop_connections()
    watch.wait_count("close", closes + 1)

    future = engine.submit_spot_order(**resting(price="20001.0", cl_ord_id="lo-late"))
    with pytest.raises(NotSent):
        future.result(timeout=5)
    sim.control.reset_faults()
    watch.wait_count("reconciled", 1, timeout=15)
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    assert truth["state"]["faults_fired"]["refuse_connections"] >= 1
    assert "lo-late" not in {o["cl_ord_id"] for o in truth["orders"].values()}
    # the contract: a request that waited past request_timeout ends as a `not_sent` row
    rows = History(engine.config.database_url).orders(cl_ord_id="lo-late")
    assert [r.status for r in rows] == ["not_sent"]


def test_a_reconciliation_kraken_cannot_answer_is_retried_and_each_attempt_recorded(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=5.0)  # order entry waits out two 1 s retries
    watch = Watch(engine)
    engine.connect()
    a = engine.submit_spot_order(**resting(cl_ord_id="rf-a")).result(5).result
    # Kraken's REST fails the next two reads (the first reconciliation's OpenOrders, then the
    # retry's), while the socket comes straight back and a fill happens unseen
    sim.control.refuse_connections(1)
    sim.control.fail_rest_queries(2)
    closes = watch.count("close")
    sim.control.drop_connections()
    watch.wait_count("close", closes + 1)
    sim.control.fill(a.order_id)
    held = engine.submit_spot_order(**resting(price="20001.0", cl_ord_id="rf-b"))

    watch.wait_count("reconciled", 1, timeout=15)
    assert held.result(timeout=5).success
    watch.wait(lambda w: w.index("order_filled", "rf-a") >= 0)
    wait_quiescent(engine, watch)
    truth = assert_database_matches_simulator(engine, sim)
    assert truth["state"]["faults_fired"]["fail_rest_queries"] == 2
    db = make_db(engine.config.database_url)
    try:
        with db.connect() as conn:
            rows = conn.execute(
                select(ReconciliationRow.outcome, ReconciliationRow.summary).order_by(
                    ReconciliationRow.id
                )
            ).all()
    finally:
        db.dispose()
    assert [outcome for outcome, _ in rows] == ["failed", "failed", "ok"]
    assert all("EService:Unavailable" in (summary or "") for _, summary in rows[:2])
