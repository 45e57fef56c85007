"""How far back a reconnect's reconciliation reads: since shortly before the socket went quiet,
not since the last reconciliation.

Before, `last_sync` moved only when a reconciliation ran, so a drop after eight hours on one
connection read eight hours of closed orders and trades back, page by page under Kraken's REST
counter, with order entry held until the end. The order manager's object is driven on the
test's thread with a clock moved by hand, on a real SQLite file; the reconciler only records
what it is asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from order_manager_support import DiscardingWire, apply_fact, driven_order_manager, submit

from actors.messages import (
    ConnectionDown,
    ConnectionUp,
    PlaceOrders,
    ReconcileRequested,
    RequestAnswered,
    Tick,
)
from actors.order_manager import OrderManagerActor
from engine.kraken.envelope import parse_response

START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
LAG = timedelta(seconds=60)


class ManualClock:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self.seconds = 0.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.seconds += seconds


class Reconciler:
    def __init__(self) -> None:
        self.asked: list[ReconcileRequested] = []

    def tell(self, message: Any) -> None:
        self.asked.append(message)


@pytest.fixture
def driven(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, ManualClock, Reconciler]]:
    clock, reconciler = ManualClock(START), Reconciler()
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with driven_order_manager(
        url, DiscardingWire, clock=clock, reconciler=lambda: reconciler, sync_lag_s=60.0
    ) as om:
        om.on_receive(ConnectionUp(1, reconnect=False))  # a new database: no reconciliation
        assert reconciler.asked == []
        yield om, clock, reconciler


def _place(om: OrderManagerActor, cl_ord_id: str, order_id: str | None) -> None:
    """An order sent (the test's first, when it is answered)."""
    params = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD", "cl_ord_id": cl_ord_id,
              "order_qty": Decimal("0.01"), "limit_price": Decimal("1000")}  # fmt: skip
    submit(om, PlaceOrders("add_order", params, Future()))
    if order_id is not None:
        answer = parse_response({"method": "add_order", "req_id": 1, "success": True,
                                 "result": {"order_id": order_id, "cl_ord_id": cl_ord_id},
                                 "time_in": "2026-12-03T08:00:00.000000Z",
                                 "time_out": "2026-12-03T08:00:00.000100Z"})  # fmt: skip
        apply_fact(om, RequestAnswered((1,), "add_order", 1, answer))  # the first order's row


def _run_for(om: OrderManagerActor, clock: ManualClock, hours: int) -> None:
    for _ in range(hours * 60):  # a tick a minute is enough to move the mark
        clock.advance(60)
        om.on_receive(Tick())


def _reconnect(
    om: OrderManagerActor, reconciler: Reconciler, clock: ManualClock, down_hours: int = 0
) -> ReconcileRequested:
    """The socket drops, stays down `down_hours` (ticking all along), then comes back."""
    om.on_receive(ConnectionDown(1, "dropped"))
    _run_for(om, clock, hours=down_hours)
    om.on_receive(ConnectionUp(2, reconnect=True))
    [request] = reconciler.asked
    return request


def test_a_drop_after_hours_on_one_connection_reads_back_a_minute_not_the_session(
    driven: tuple[OrderManagerActor, ManualClock, Reconciler],
) -> None:
    om, clock, reconciler = driven
    _place(om, "resting", "ORESTG-ABCDE-FGHIJK")  # live all along, known by its id

    _run_for(om, clock, hours=8)
    request = _reconnect(om, reconciler, clock)

    assert request.since == clock.now() - LAG
    assert request.order_ids == ("ORESTG-ABCDE-FGHIJK",)  # asked for by id, whatever the window


def test_the_window_reaches_back_to_an_order_known_only_by_its_cl_ord_id(
    driven: tuple[OrderManagerActor, ManualClock, Reconciler],
) -> None:
    """Sent, never answered: only the lists can show it, so they are read from its start."""
    om, clock, reconciler = driven
    _run_for(om, clock, hours=1)
    sent_at = clock.now()
    _place(om, "unanswered", None)

    _run_for(om, clock, hours=7)
    request = _reconnect(om, reconciler, clock)

    assert request.since is not None and request.since <= sent_at
    assert request.cl_ord_ids == ("unanswered",)


def test_the_mark_stays_where_the_socket_was_last_up(
    driven: tuple[OrderManagerActor, ManualClock, Reconciler],
) -> None:
    om, clock, reconciler = driven
    _run_for(om, clock, hours=1)
    last_up = clock.now()

    request = _reconnect(om, reconciler, clock, down_hours=3)  # ticks while down move nothing

    assert request.since == last_up - LAG
