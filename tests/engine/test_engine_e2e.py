"""The engine end to end against the real simulator and a real SQLite file (no mocks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from engine_support import limit_buy

from engine import Engine
from engine.errors import (
    LocalRejection,
    OutcomeUnknown,
    VenueRejection,
)
from engine.simulator import Simulator
from persistence.history import History

LIVE = {"pending_submit", "submitted", "pending_new", "new", "partially_filled"}


class Recorder:
    """Collects `order` events and lets a test wait for one without sleeping."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[tuple[str | None, str, str]] = []
        self._cond = threading.Condition()
        engine.on("order", self._on_order)

    def _on_order(self, event: Any) -> None:
        with self._cond:
            order = event.data.order
            self.events.append((order.order_id, order.cl_ord_id, event.data.kind))
            self._cond.notify_all()

    def wait(self, predicate: Callable[[list[tuple[Any, ...]]], bool], timeout: float = 5) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.events), timeout), self.events

    def kinds(self, cl_ord_id: str) -> list[str]:
        with self._cond:
            return [kind for _, cid, kind in self.events if cid == cl_ord_id]


def _ground_truth(sim: Simulator) -> dict[str, Any]:
    state = sim.control.state()
    orders = {o["order_id"]: o for o in state["orders"] if o["api_key"] == sim.api_key}
    return {"orders": orders, "trades": {t["exec_id"]: t for t in state["trades"]}}


def assert_database_matches_simulator(engine: Engine, sim: Simulator) -> None:
    history = History(engine.config.database_url)
    truth = _ground_truth(sim)
    rows = {o.order_id: o for o in history.orders(account=engine.config.account)}
    placed = {oid: o for oid, o in rows.items() if oid}
    assert set(placed) == set(truth["orders"])
    for order_id, expected in truth["orders"].items():
        row = placed[order_id]
        assert row.status == expected["status"], order_id
        assert row.cum_qty == expected["cum_qty"], order_id
        assert row.order_qty == expected["order_qty"], order_id
        assert row.limit_price == expected["limit_price"], order_id
        assert row.fees == expected["fees"], order_id
        if expected["cum_qty"]:
            assert row.avg_price == expected["avg_price"], order_id
    fills = {f.exec_id: f for f in history.fills(account=engine.config.account)}
    assert set(fills) == set(truth["trades"])
    for exec_id, trade in truth["trades"].items():
        assert fills[exec_id].price == trade["price"]
        assert fills[exec_id].qty == trade["qty"]
        assert fills[exec_id].fee == trade["fee"]


def test_lifecycle_events_and_database_equal_ground_truth(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    recorder = Recorder(engine)
    engine.connect()

    placed = engine.submit_spot_order(**limit_buy()).result(timeout=5)
    order_id = placed.result.order_id
    cl_ord_id = placed.result.cl_ord_id
    assert order_id and cl_ord_id, "the engine gives every order a cl_ord_id"
    recorder.wait(lambda ev: (order_id, cl_ord_id, "order_new") in ev)

    amended = engine.amend_spot_order(order_id=order_id, limit_price=Decimal("26400.0"))
    assert amended.result(timeout=5).result.amend_id
    recorder.wait(lambda ev: (order_id, cl_ord_id, "order_amended") in ev)

    sim.control.fill(order_id, qty=Decimal("0.5"))
    recorder.wait(lambda ev: (order_id, cl_ord_id, "order_partially_filled") in ev)

    canceled = engine.cancel_spot_order(order_id=order_id).result(timeout=5)
    assert canceled.success
    recorder.wait(lambda ev: (order_id, cl_ord_id, "order_canceled") in ev)

    assert recorder.kinds(cl_ord_id) == [
        "order_submitted",
        "order_pending_new",
        "order_new",
        "order_amended",
        "order_partially_filled",
        "order_canceled",
    ]
    # a second order runs to filled: trade report, then Kraken's separate filled report
    second = engine.submit_spot_order(**limit_buy(order_qty=Decimal("0.3"))).result(timeout=5)
    sim.control.fill(second.result.order_id)
    recorder.wait(
        lambda ev: (second.result.order_id, second.result.cl_ord_id, "order_filled") in ev
    )
    assert recorder.kinds(second.result.cl_ord_id)[-1] == "order_filled"

    engine.wait_for_events()
    assert_database_matches_simulator(engine, sim)
    timeline = History(engine.config.database_url).timeline(order_id)
    assert next(e.source for e in timeline.events) == "request"
    assert len(timeline.fills) == 1 and timeline.fills[0].qty == Decimal("0.5")
    # one journal entry per executions report: the trade carries its fill's outcome
    reported = [(e.kind, e.status_after) for e in timeline.events if e.source == "executions"]
    assert reported == [
        ("pending_new", "pending_new"),
        ("new", "new"),
        ("amended", "new"),
        ("trade", "partially_filled"),
        ("canceled", "canceled"),
    ]


def test_each_method_succeeds_end_to_end(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    engine.connect()
    first = engine.submit_spot_order(**limit_buy(order_userref=100054)).result(timeout=5)
    assert first.result.order_userref == 100054 and first.req_id > 0
    assert first.time_in is not None and first.time_out is not None
    order_id = first.result.order_id

    assert engine.amend_spot_order(order_id=order_id, order_qty=Decimal("1.5")).result(5).success
    with pytest.warns(DeprecationWarning):
        edit_future = engine.edit_spot_order(
            order_id=order_id, symbol="BTC/USD", limit_price=Decimal("26000.0")
        )
    edited = edit_future.result(timeout=5)
    assert edited.result.original_order_id == order_id
    assert edited.result.order_id != order_id

    batch = engine.batch_submit_spot_orders(
        symbol="BTC/USD",
        orders=[
            {
                "order_type": "limit",
                "side": "buy",
                "order_qty": Decimal("1"),
                "limit_price": Decimal("25000.0"),
            },
            {
                "order_type": "limit",
                "side": "sell",
                "order_qty": Decimal("1"),
                "limit_price": Decimal("65000.0"),
            },
        ],
    ).result(timeout=5)
    batch_ids = [row.order_id for row in batch.result]
    assert len(batch_ids) == 2 and all(batch_ids)

    two = engine.cancel_spot_order(order_id=batch_ids).result(timeout=5)
    assert two.success and len(two.results) == 2, two.results

    extra = [engine.submit_spot_order(**limit_buy()).result(5).result.order_id for _ in range(2)]
    assert engine.batch_cancel_spot_orders(orders=extra).result(timeout=5).result.count == 2

    dms = engine.cancel_all_spot_orders_after(60).result(timeout=5)
    assert dms.result.trigger_time is not None
    off = engine.cancel_all_spot_orders_after(0).result(timeout=5)
    assert off.result.trigger_time is None

    everything = engine.cancel_all_spot_orders().result(timeout=5)
    assert everything.result.count == 1  # the edited order was the last one resting

    engine.wait_for_events()
    truth = _ground_truth(sim)
    assert all(o["status"] == "canceled" for o in truth["orders"].values())


def test_validate_places_nothing(make_engine: Callable[..., Engine], sim: Simulator) -> None:
    engine = make_engine()
    engine.connect()
    response = engine.submit_spot_order(**limit_buy(validate=True)).result(timeout=5)
    assert response.success and response.result.order_id == ""
    batch = engine.batch_submit_spot_orders(
        symbol="BTC/USD",
        orders=[
            {
                "order_type": "limit",
                "side": "buy",
                "order_qty": Decimal("1"),
                "limit_price": Decimal("25000.0"),
            },
            {
                "order_type": "limit",
                "side": "buy",
                "order_qty": Decimal("1"),
                "limit_price": Decimal("25001.0"),
            },
        ],
        validate=True,
    ).result(timeout=5)
    assert batch.success
    assert _ground_truth(sim)["orders"] == {}
    assert History(engine.config.database_url).orders() == []


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("add_order", lambda e: e.submit_spot_order(**limit_buy())),
        (
            "amend_order",
            lambda e: e.amend_spot_order(
                order_id="OAAAAA-BBBBB-CCCCCC", limit_price=Decimal("1.0")
            ),
        ),
        ("cancel_order", lambda e: e.cancel_spot_order(order_id="OAAAAA-BBBBB-CCCCCC")),
        ("cancel_all", lambda e: e.cancel_all_spot_orders()),
        ("cancel_all_orders_after", lambda e: e.cancel_all_spot_orders_after(60)),
        (
            "batch_add",
            lambda e: e.batch_submit_spot_orders(
                symbol="BTC/USD",
                orders=[
                    {
                        "order_type": "limit",
                        "side": "buy",
                        "order_qty": Decimal("1"),
                        "limit_price": Decimal("25000.0"),
                    }
                ]
                * 2,
            ),
        ),
        (
            "batch_cancel",
            lambda e: e.batch_cancel_spot_orders(
                orders=["OAAAAA-BBBBB-CCCCCC", "OAAAAA-BBBBB-DDDDDD"]
            ),
        ),
    ],
)
def test_each_method_refused_by_kraken_raises_typed_error(
    make_engine: Callable[..., Engine], sim: Simulator, method: str, call: Callable[[Engine], Any]
) -> None:
    engine = make_engine()
    engine.connect()
    sim.control.fail_requests(1, error="EGeneral:Permission denied", transport="ws")
    with pytest.raises(VenueRejection) as caught:
        call(engine).result(timeout=5)
    assert caught.value.error == "EGeneral:Permission denied"
    assert caught.value.method == method
    assert caught.value.req_id


def test_kraken_refusals_in_its_own_words(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(instrument_checks=False)  # Kraken's refusals, not ours
    engine.connect()
    with pytest.raises(VenueRejection) as caught:
        engine.cancel_spot_order(order_id="OAAAAA-BBBBB-CCCCCC").result(timeout=5)
    assert caught.value.error == "EOrder:Invalid order"
    with pytest.raises(VenueRejection) as caught:
        engine.submit_spot_order(**limit_buy(limit_price=Decimal("26500.45"))).result(timeout=5)
    assert caught.value.error == "EOrder:Tick size check failed"
    with pytest.warns(DeprecationWarning):
        edit = engine.edit_spot_order(
            order_id="OAAAAA-BBBBB-CCCCCC", symbol="BTC/USD", order_qty=Decimal("1")
        )
    with pytest.raises(VenueRejection):
        edit.result(timeout=5)
    engine.wait_for_events()
    rejected = History(engine.config.database_url).orders(status="rejected")
    # the refused add_order is kept as rejected; an edit of an order we never had writes no row
    assert [r.reason for r in rejected] == ["EOrder:Tick size check failed"]


def test_bad_input_is_refused_locally_and_nothing_is_written(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    future = engine.submit_spot_order(**limit_buy(limit_price=None))
    with pytest.raises(LocalRejection) as caught:
        future.result(timeout=1)
    assert caught.value.field == "limit_price"
    with pytest.raises(LocalRejection) as caught:
        engine.submit_spot_order(**limit_buy(order_qty=1.5)).result(timeout=1)
    assert caught.value.field == "order_qty"
    assert History(engine.config.database_url).orders() == []
    assert sim.control.state()["orders"] == []


def test_concurrent_submitters_each_get_their_own_response(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=30.0)
    engine.connect()
    threads, per_thread = 8, 250
    results: dict[int, list[tuple[str, Any]]] = {}

    def submit(n: int) -> None:
        futures = []
        for i in range(per_thread):
            cl_ord_id = f"t{n}-{i}"
            futures.append((cl_ord_id, engine.submit_spot_order(**limit_buy(cl_ord_id=cl_ord_id))))
        results[n] = [(cid, f.result(timeout=60)) for cid, f in futures]

    workers = [threading.Thread(target=submit, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    responses = [pair for n in range(threads) for pair in results[n]]
    assert len(responses) == threads * per_thread
    assert all(resp.result.cl_ord_id == cid for cid, resp in responses)
    assert len({resp.result.order_id for _, resp in responses}) == threads * per_thread
    engine.wait_for_events()
    assert len(History(engine.config.database_url).orders()) == threads * per_thread
    assert len(_ground_truth(sim)["orders"]) == threads * per_thread


def test_swallowed_acknowledgement_is_outcome_unknown_and_stays_in_flight(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=1.0)
    engine.connect()
    sim.control.swallow_responses(1)
    future = engine.submit_spot_order(**limit_buy(cl_ord_id="swallowed-1"))
    with pytest.raises(OutcomeUnknown) as caught:
        future.result(timeout=3)
    assert caught.value.method == "add_order"
    engine.wait_for_events()
    [row] = History(engine.config.database_url).orders(cl_ord_id="swallowed-1")
    assert row.status in LIVE  # never rejected, never forgotten: reconciliation settles it


def test_an_edit_sent_the_moment_its_order_was_answered_records_its_replacement(
    make_engine: Callable[..., Engine],
) -> None:
    # the answered caller's next command goes before the answer's facts (the head start):
    # an edit must still find its order, and write its replacement's intent before sending
    engine = make_engine()
    engine.connect()
    edits = []
    for i in range(5):
        placed = engine.submit_spot_order(**limit_buy(limit_price=Decimal(26500 - i)))
        original = placed.result(timeout=5).result.order_id
        with pytest.warns(DeprecationWarning):
            edit = engine.edit_spot_order(
                order_id=original, symbol="BTC/USD", limit_price=Decimal(26000 - i)
            )
        edits.append((original, edit.result(timeout=5).result.order_id))
    for _, replacement in edits:
        known = engine.get_order(replacement)  # queued behind the answers
        assert known is not None and known.order_id == replacement
    rows = {row.order_id: row for row in History(engine.config.database_url).orders()}
    for original, replacement in edits:
        assert rows[replacement].origin == "engine"
        assert rows[replacement].replaces_id == rows[original].id


def test_an_edit_giving_the_new_order_a_userref_succeeds(
    make_engine: Callable[..., Engine],
) -> None:
    # an edit's order_userref is the new order's, not a list of orders to look up (a cancel's
    # is): reading it as one stopped the order manager
    engine = make_engine()
    engine.connect()
    original = engine.submit_spot_order(**limit_buy()).result(timeout=5).result.order_id
    with pytest.warns(DeprecationWarning):
        edit = engine.edit_spot_order(
            order_id=original, symbol="BTC/USD", limit_price=Decimal(26000), order_userref=42
        )
    replacement = edit.result(timeout=5).result.order_id
    known = engine.get_order(replacement)
    assert known is not None and known.order_userref == 42
    later = engine.submit_spot_order(**limit_buy()).result(timeout=5)
    assert later.success, "the order manager still takes orders"
