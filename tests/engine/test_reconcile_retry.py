"""How soon a failed reconciliation is tried again: a second after Kraken's REST could not
answer, a minute after it refused the credentials (Kraken locks out a key that keeps failing).

The reconciler reads the real simulator; the order manager's object is driven on the test's
thread with a clock moved by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from order_manager_support import DiscardingWire, driven_order_manager

from actors.clock import SystemClock
from actors.messages import ConnectionUp, ReconcileFailed, ReconcileRequested, Tick
from actors.order_manager import OrderManagerActor
from actors.reconciler import ReconcilerActor
from actors.rest_client import RestClient
from engine.simulator import Simulator
from tests.engine.test_sync_window import START, ManualClock, Reconciler


class Replies:
    def __init__(self) -> None:
        self.got: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()

    def tell(self, message: Any) -> None:
        self.got.set(message)


@pytest.mark.parametrize(
    ("error", "retry_after_s"),
    [("EService:Unavailable", 1.0), ("EGeneral:Permission denied", 60.0)],
    ids=["unavailable", "credentials refused"],
)
def test_the_reconciler_says_how_long_to_wait_after_a_failure(
    sim: Simulator, error: str, retry_after_s: float
) -> None:
    sim.control.fail_rest_queries(1, error=error)
    rest = RestClient(sim.rest_url, sim.api_key, sim.api_secret)
    reconciler = ReconcilerActor.start(rest, SystemClock())
    replies = Replies()
    try:
        reconciler.tell(ReconcileRequested("test", None, (), (), replies))
        failed = replies.got.get(timeout=10)
    finally:
        reconciler.stop()
        rest.close()
    assert isinstance(failed, ReconcileFailed)
    assert error in failed.error
    assert failed.retry_after_s == retry_after_s


@pytest.fixture
def driven(tmp_path: Path) -> Iterator[tuple[OrderManagerActor, ManualClock, Reconciler]]:
    clock, reconciler = ManualClock(START), Reconciler()
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    with driven_order_manager(
        url, DiscardingWire, clock=clock, reconciler=lambda: reconciler
    ) as om:
        om.on_receive(ConnectionUp(1, reconnect=True))
        assert len(reconciler.asked) == 1
        yield om, clock, reconciler


@pytest.mark.parametrize("retry_after_s", [1.0, 60.0])
def test_the_order_manager_asks_again_once_the_pause_has_passed(
    driven: tuple[OrderManagerActor, ManualClock, Reconciler], retry_after_s: float
) -> None:
    om, clock, reconciler = driven
    om.on_receive(ReconcileFailed("reconnect", "refused", START, retry_after_s=retry_after_s))

    clock.advance(retry_after_s - 0.5)
    om.on_receive(Tick())
    assert len(reconciler.asked) == 1  # not yet

    clock.advance(1.0)
    om.on_receive(Tick())
    assert len(reconciler.asked) == 2
