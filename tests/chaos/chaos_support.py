"""Chaos helpers: engine settings with short timeouts, an event watcher that lets a test wait
without sleeping, and the ground-truth comparison. (Imported by the tests; conftest.py puts this
directory on sys.path because the suite runs with --import-mode=importlib.)

Every comparison reads the database through `History` (what an operator sees) and the simulator's
`state()` (what the venue did), and compares status, quantities, prices and fees, not only ids.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine import Engine
from engine.simulator import Simulator
from persistence.history import History

IN_FLIGHT = frozenset({"pending_submit", "submitted"})
LIVE = IN_FLIGHT | {"pending_new", "new", "partially_filled"}
TIER = "unlimited"


def chaos_values(sim: Simulator, database_url: str, **overrides: Any) -> dict[str, Any]:
    """Engine settings for chaos: every timeout short, so that ambiguity settles in seconds."""
    values: dict[str, Any] = {
        "api_key": sim.api_key,
        "api_secret": sim.api_secret,
        "ws_url": sim.ws_url,
        "rest_url": sim.rest_url,
        "database_url": database_url,
        "request_timeout": 1.0,
        "rest_lag_s": 1.0,
        "order_deadline": 1.0,
        "dead_mans_switch_timeout": 0,
        "reconnect_base_delay": 0.05,
        "reconnect_max_delay": 0.3,
        "connect_timeout": 2.0,
        "attach_default_listeners": False,
        "rate_limit_tier": TIER,  # the engine's throttle follows the simulator's tier
    }
    values.update(overrides)
    return values


class Watch:
    """Every engine event in arrival order, with waits on predicates (never sleeps)."""

    def __init__(self, engine: Engine) -> None:
        self.log: list[tuple[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self._cond = threading.Condition()
        engine.on("*", self._on_event)

    def _on_event(self, event: Any) -> None:
        with self._cond:
            if event.name == "order":
                self.log.append((event.data.kind, event.data.order))
            elif event.name != "execution":
                self.log.append((event.name, event.data))
            self.counts[event.name] += 1
            self._cond.notify_all()

    def count(self, name: str) -> int:
        with self._cond:
            return self.counts[name]

    def wait(self, predicate: Callable[[Watch], bool], timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout):
                tail = [name for name, _ in self.log[-30:]]
                raise AssertionError(f"engine events did not match within {timeout} s: {tail}")

    def wait_count(self, name: str, at_least: int, timeout: float = 10.0) -> None:
        self.wait(lambda w: w.counts[name] >= at_least, timeout)

    def index(self, kind: str, cl_ord_id: str | None = None) -> int:
        """Position of the first event `kind` (for an order kind: of that cl_ord_id), or -1."""
        with self._cond:
            for position, (name, data) in enumerate(self.log):
                if name != kind:
                    continue
                if cl_ord_id is None or getattr(data, "cl_ord_id", None) == cl_ord_id:
                    return position
            return -1


def wait_quiescent(engine: Engine, watch: Watch, timeout: float = 20.0) -> None:
    """No order in flight in the engine, a reconciliation finished after that, events handled."""

    def settled(w: Watch) -> bool:
        return not any(o.status.value in IN_FLIGHT for o in engine.open_orders())

    watch.wait(settled, timeout)
    assert engine.wait_for_events(timeout)


def ground_truth(sim: Simulator) -> dict[str, Any]:
    state = sim.control.state()
    orders = {o["order_id"]: o for o in state["orders"] if o["api_key"] == sim.api_key}
    trades = [t for t in state["trades"] if t["api_key"] == sim.api_key]
    return {"orders": orders, "trades": trades, "state": state}


def assert_database_matches_simulator(engine: Engine, sim: Simulator) -> dict[str, Any]:
    """The database equals the simulator's ground truth: nothing lost, duplicated or wrong."""
    truth = ground_truth(sim)
    history = History(engine.config.database_url)
    try:
        rows = history.orders(account=engine.config.account)
        fills = history.fills(account=engine.config.account)
    finally:
        history.close()
    placed = [r for r in rows if r.order_id]
    # zero duplicated: one row per Kraken order id
    duplicates = [oid for oid, n in Counter(r.order_id for r in placed).items() if n > 1]
    assert not duplicates, f"orders stored twice: {duplicates}"
    by_id = {r.order_id: r for r in placed}
    # zero lost, zero invented
    lost = set(truth["orders"]) - set(by_id)
    invented = set(by_id) - set(truth["orders"])
    assert not lost, f"orders on the exchange missing from the database: {sorted(lost)}"
    assert not invented, f"orders in the database the exchange never had: {sorted(invented)}"
    wrong: list[str] = []
    for order_id, expected in truth["orders"].items():
        row = by_id[order_id]
        checks: list[tuple[str, Any, Any]] = [
            ("status", row.status, expected["status"]),
            ("cum_qty", row.cum_qty, expected["cum_qty"]),
            ("order_qty", row.order_qty, expected["order_qty"]),
            ("limit_price", row.limit_price, expected["limit_price"]),
            ("fees", row.fees, expected["fees"]),
            ("cl_ord_id", row.cl_ord_id, expected["cl_ord_id"]),
            ("side", row.side, expected["side"]),
        ]
        if expected["cum_qty"]:
            checks.append(("avg_price", row.avg_price, expected["avg_price"]))
        for name, got, want in checks:
            if got != want:
                wrong.append(f"{order_id} {name}: database {got!r}, exchange {want!r}")
    assert not wrong, "orders in a wrong state:\n" + "\n".join(wrong)
    # rows without an order id never reached the exchange: their cl_ord_id must not be there
    placed_cl = {o["cl_ord_id"] for o in truth["orders"].values() if o["cl_ord_id"]}
    for row in rows:
        if not row.order_id:
            assert row.status in ("not_sent", "rejected"), (row.cl_ord_id, row.status)
            assert row.cl_ord_id not in placed_cl, f"{row.cl_ord_id} is live but has no order_id"
    # fills: stored once each, with the venue's price, quantity and fee
    counted = Counter(f.exec_id for f in fills)
    assert not [e for e, n in counted.items() if n > 1], "fills stored twice"
    stored = {f.exec_id: f for f in fills}
    expected_fills = {t["exec_id"]: t for t in truth["trades"]}
    assert set(stored) == set(expected_fills)
    for exec_id, trade in expected_fills.items():
        fill = stored[exec_id]
        assert (fill.order_id, fill.price, fill.qty, fill.fee) == (
            trade["order_id"],
            trade["price"],
            trade["qty"],
            trade["fee"],
        ), exec_id
    return truth


def resting(side: str = "buy", qty: str = "0.5", price: str | None = None, **extra: Any) -> dict:
    """A limit order far from the reference price, so it rests until the simulator fills it."""
    fields: dict[str, Any] = {
        "order_type": "limit",
        "side": side,
        "symbol": "BTC/USD",
        "order_qty": Decimal(qty),
        "limit_price": Decimal(price or ("20000.0" if side == "buy" else "90000.0")),
    }
    fields.update(extra)
    return fields
