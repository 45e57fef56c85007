"""Run the reference scenario through the engine against the bundled Kraken simulator."""

from __future__ import annotations

import argparse
import logging
import threading
import time
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
            engine.on(
                "order", lambda e: _say(f"    event {e.data.kind:<24} {_describe(e.data.order)}")
            )
            engine.connect()
            print(f"connected and authenticated in {time.monotonic() - started:.3f} s")
            _scenario(engine, sim)
            engine.wait_for_events()
        _print_history(args.db, config.account)
    return 0


_print_lock = threading.Lock()


def _say(line: str) -> None:
    # events arrive on the engine's events thread; one lock keeps lines whole
    with _print_lock:
        print(line, flush=True)


def _step(title: str, future: Any) -> Any:
    response = future.result(timeout=10)
    _say(f"{title}\n    -> {response.to_dict().get('result')}")
    return response


def _scenario(engine: Engine, sim: Simulator) -> None:
    sim.control.set_reference_price("BTC/USD", Decimal("26600.0"))
    sim.control.set_reference_price("ETH/USD", Decimal("1700.00"))
    placed = _step(
        "1. limit buy 1.2 BTC/USD @ 26500.4",
        engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("1.2"),
            limit_price=Decimal("26500.4"),
            order_userref=100054,
        ),
    )
    order_id = placed.result.order_id
    _step(
        "2. amend its price to 26400.0",
        engine.amend_spot_order(order_id=order_id, limit_price=Decimal("26400.0")),
    )
    _say("3. the simulator fills 0.5 of it")
    sim.control.fill(order_id, qty=Decimal("0.5"))
    _step("4. cancel the rest", engine.cancel_spot_order(order_id=order_id))
    _step("5. arm the dead man's switch for 60 s", engine.cancel_all_spot_orders_after(60))
    _step(
        "6. batch: a buy and a sell on ETH/USD",
        engine.batch_submit_spot_orders(
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
    )
    _step("7. cancel all", engine.cancel_all_spot_orders())


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
