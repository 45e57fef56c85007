"""Run the reference scenario through the engine against the bundled Kraken simulator."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from engine import Engine, EngineConfig
from engine.simulator import Simulator
from persistence.history import History


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default="sqlite:///kraken-orders.db",
        help="where the engine keeps its order history (any SQLAlchemy URL)",
    )
    parser.add_argument("--verbose", action="store_true", help="log the engine's events")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with Simulator(tier="pro") as sim:
        print(f"simulator: WebSocket {sim.ws_url}, REST {sim.rest_url}")
        config = EngineConfig(
            api_key=sim.api_key,
            api_secret=sim.api_secret,
            ws_url=sim.ws_url,
            rest_url=sim.rest_url,
            database_url=args.db,
            request_timeout=5.0,
            rate_limit_tier="pro",  # the simulator's tier: the engine paces itself the same
        )
        started = time.monotonic()
        with Engine(config) as engine:
            narrator = _Narrator()
            engine.on("order", narrator.on_order)
            engine.connect()
            print(f"connected and authenticated in {time.monotonic() - started:.3f} s")
            _scenario(engine, sim, narrator)
            engine.wait_for_events()
        _print_history(args.db, config.account)
    return 0


_print_lock = threading.Lock()

# how long a step waits for the events it causes before the next step goes on without them
_EVENTS_WAIT_S = 10.0


def _say(line: str) -> None:
    # events arrive on the engine's events thread; one lock keeps lines whole
    with _print_lock:
        print(line, flush=True)


class _Narrator:
    """Prints each order event and lets a step wait for the events it causes.

    Events come on the engine's events thread, after the answer that a step's future resolves
    to: without the wait, a step's fill or cancel would be printed under the next step's
    heading.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._kinds: list[str] = []

    def on_order(self, event: Any) -> None:
        with self._changed:
            _say(f"    event {event.data.kind:<24} {_describe(event.data.order)}")
            self._kinds.append(event.data.kind)
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self._kinds)

    def wait_for(self, since: int, expected: Counter[str]) -> Counter[str]:
        """What of `expected` has not come since `since` (empty once all of it has)."""
        with self._changed:
            self._changed.wait_for(
                lambda: expected <= Counter(self._kinds[since:]), timeout=_EVENTS_WAIT_S
            )
            return expected - Counter(self._kinds[since:])


def _step(
    narrator: _Narrator, title: str, act: Callable[[], Future[Any] | None], *events: str
) -> Any:
    """One step: its heading, its request's answer (if it sends one), then the order events
    it causes."""
    since = narrator.mark()
    _say(title)
    future = act()
    response = None
    if future is not None:
        response = future.result(timeout=10)
        _say(f"    -> {response.to_dict().get('result')}")
    missing = narrator.wait_for(since, Counter(events))
    if missing:
        _say(f"    (no {', '.join(sorted(missing.elements()))} after {_EVENTS_WAIT_S:.0f} s)")
    return response


def _scenario(engine: Engine, sim: Simulator, narrator: _Narrator) -> None:
    sim.control.set_reference_price("BTC/USD", Decimal("26600.0"))
    sim.control.set_reference_price("ETH/USD", Decimal("1700.00"))
    placed = _step(
        narrator,
        "1. limit buy 1.2 BTC/USD @ 26500.4",
        lambda: engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("1.2"),
            limit_price=Decimal("26500.4"),
            order_userref=100054,
        ),
        "order_submitted",
        "order_new",
    )
    order_id = placed.result.order_id
    _step(
        narrator,
        "2. amend its price to 26400.0",
        lambda: engine.amend_spot_order(order_id=order_id, limit_price=Decimal("26400.0")),
        "order_amended",
    )

    def fill() -> None:
        sim.control.fill(order_id, qty=Decimal("0.5"))

    _step(narrator, "3. the simulator fills 0.5 of it", fill, "order_partially_filled")
    _step(
        narrator,
        "4. cancel the rest",
        lambda: engine.cancel_spot_order(order_id=order_id),
        "order_canceled",
    )
    _step(
        narrator,
        "5. arm the dead man's switch for 60 s",
        lambda: engine.cancel_all_spot_orders_after(60),
    )
    _step(
        narrator,
        "6. batch: a buy and a sell on ETH/USD",
        lambda: engine.batch_submit_spot_orders(
            symbol="ETH/USD",
            orders=[
                {
                    "order_type": "limit",
                    "side": "buy",
                    "order_qty": Decimal("2"),
                    "limit_price": Decimal("1500.00"),
                },
                {
                    "order_type": "limit",
                    "side": "sell",
                    "order_qty": Decimal("2"),
                    "limit_price": Decimal("1900.00"),
                },
            ],
        ),
        "order_submitted",
        "order_submitted",
        "order_new",
        "order_new",
    )
    _step(
        narrator,
        "7. cancel all",
        engine.cancel_all_spot_orders,
        "order_canceled",
        "order_canceled",
    )


def _describe(order: Any) -> str:
    return (
        f"{order.side} {order.order_qty} {order.symbol} {order.order_type} "
        f"status={order.status.value} filled={order.cum_qty}"
    )


def _print_history(url: str, account: str) -> None:
    print("\norder history (newest first):")
    print(
        f"{'order_id':<20} {'symbol':<8} {'side':<4} {'qty':>6} {'price':>10} "
        f"{'status':<10} {'filled':>6} {'avg_price':>10} {'fees':>8}"
    )
    for order in History(url).orders(account=account, limit=20):
        print(
            f"{order.order_id or '-':<20} {order.symbol:<8} {order.side:<4} "
            f"{order.order_qty!s:>6} {order.limit_price!s:>10} {order.status:<10} "
            f"{order.cum_qty!s:>6} {order.avg_price or '-'!s:>10} {order.fees!s:>8}"
        )
