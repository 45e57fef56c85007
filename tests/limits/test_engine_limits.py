"""The engine under Kraken's trading counter, against the simulator enforcing the same tiers.

Each test names the simulator tier it runs under (the contract's rule for load tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config

from engine import Engine
from engine.errors import NotSent, VenueRejection
from engine.simulator import Simulator
from persistence.history import History


@pytest.fixture
def make_sim() -> Iterator[Callable[[str], Simulator]]:
    sims: list[Simulator] = []

    def factory(tier: str) -> Simulator:
        sim = Simulator(tier=tier)
        sim.__enter__()
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        sim.__exit__(None, None, None)


def _engine(sim: Simulator, tmp_path: Path, tier: str, **extra: Any) -> Engine:
    return Engine(engine_config(sim, tmp_path, tier, **extra)).start()


def _buy(i: int) -> dict[str, Any]:
    # resting bids far below the simulator's reference price, all different
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal("20000.0") + i,
    }


class RateEvents:
    def __init__(self, engine: Engine) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        engine.on("rate_limit", self._on)

    def _on(self, event: Any) -> None:
        with self._lock:
            self.events.append(event.data)
            self._lock.notify_all()

    def wait_for(self, kind: str, timeout: float = 5) -> None:
        with self._lock:
            assert self._lock.wait_for(lambda: self.kinds(kind), timeout), self.events

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["kind"] == kind]


def test_pro_burst_of_100_then_100_cancels_at_once(
    make_sim: Callable[[str], Simulator], tmp_path: Path
) -> None:
    sim = make_sim("pro")
    engine = _engine(sim, tmp_path, "pro", request_timeout=60)
    events = RateEvents(engine)
    engine.connect()
    started = time.monotonic()
    placed = [engine.submit_spot_order(**_buy(i)) for i in range(100)]
    order_ids = [f.result(timeout=60).result.order_id for f in placed]
    placed_s = time.monotonic() - started
    started = time.monotonic()
    cancels = [engine.cancel_spot_order(order_id=oid) for oid in order_ids]
    done, _ = wait(cancels, timeout=60)
    cancel_s = time.monotonic() - started
    assert len(done) == 100
    # every request completed, none refused (a refused cancel fails its future)
    failed = [
        f.exception() or f.result() for f in cancels if f.exception() or not f.result().success
    ]
    assert failed == []
    state = sim.control.state()
    assert [o for o in state["orders"] if o["status"] in ("new", "pending_new")] == []
    stats = engine.rate_limit_stats()
    # a cancel's future follows its answer; the database follows the executions channel
    deadline = time.monotonic() + 30
    settled = threading.Event()
    while engine.open_orders() and time.monotonic() < deadline:
        settled.wait(0.01)
    engine.wait_for_events()
    engine.stop()
    assert stats["refusals"] == 0 and stats["expired"] == 0
    assert stats["new_sent_while_cancels_held"] == 0
    assert stats["coalesced_cancels"] > 0 and stats["batch_cancels"] >= 2
    # cancels were held only for the actor's mailbox, never for the counter
    assert stats["max_cancel_wait_s"] < 1.0
    assert events.kinds("warning") and events.kinds("coalesced")
    history = History(engine.config.database_url)
    assert {o.status for o in history.orders()} == {"canceled"}
    print(
        f"\npro: 100 orders in {placed_s * 1000:.0f} ms, 100 cancels in {cancel_s * 1000:.0f} ms;"
        f" {stats}"
    )


def test_starter_burst_queues_reports_the_wait_and_ends_not_sent_at_the_timeout(
    make_sim: Callable[[str], Simulator], tmp_path: Path
) -> None:
    sim = make_sim("starter")
    engine = _engine(sim, tmp_path, "starter", request_timeout=3)
    events = RateEvents(engine)
    engine.connect()
    # market orders fill at once: Starter also caps open orders per pair at 60
    market = {"order_type": "market", "side": "buy", "symbol": "BTC/USD", "order_qty": "0.01"}
    placed: list[Future[Any]] = [engine.submit_spot_order(**market) for _ in range(100)]
    wait(placed, timeout=30)
    ok = [f for f in placed if f.exception() is None]
    not_sent = [f for f in placed if isinstance(f.exception(), NotSent)]
    refused = [f for f in placed if isinstance(f.exception(), VenueRejection)]
    engine.wait_for_events()
    stats = engine.rate_limit_stats()
    engine.stop()
    # 59 at once (one point of headroom), then one per second of decay until the 3 s
    # timeout; never a refusal
    assert [str(f.exception()) for f in refused] == []
    assert 60 <= len(ok) <= 63
    assert len(ok) + len(not_sent) == 100
    queued = events.kinds("queued")
    assert len(queued) == 41
    assert [round(e["wait_s"]) for e in queued] == list(range(1, 42))
    assert events.kinds("warning")[0]["value"] >= 48
    assert stats["expired"] == len(not_sent)
    statuses = [o.status for o in History(engine.config.database_url).orders()]
    assert statuses.count("not_sent") == len(not_sent)
    assert statuses.count("filled") == len(ok)
    print(f"\nstarter: {len(ok)} sent, {len(not_sent)} not sent; {stats}")


def test_an_unexpected_refusal_snaps_the_counter(
    make_sim: Callable[[str], Simulator], tmp_path: Path
) -> None:
    # another client of the account filled the counter behind the engine's back
    sim = make_sim("starter")
    engine = _engine(sim, tmp_path, "starter", request_timeout=1.5)
    events = RateEvents(engine)
    engine.connect()
    with sim.exchange.cond:
        counter = sim.exchange._counter(sim.api_key, "BTC/USD")
        counter.apply(60, sim.exchange.now(), force=True)
    with pytest.raises(VenueRejection) as caught:
        engine.submit_spot_order(**_buy(0)).result(timeout=5)
    assert caught.value.error == "EOrder:Rate limit exceeded"
    events.wait_for("refused")
    # the next one waits instead of being refused again
    with pytest.raises(NotSent):
        engine.submit_spot_order(**_buy(1)).result(timeout=5)
    engine.stop()
