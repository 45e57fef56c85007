"""The reference scenario as a strategy would write it, configured from the environment.

    KRAKEN_API_KEY=... KRAKEN_API_SECRET=... python examples/full_example.py

Against the bundled simulator, start it first (`kraken-router sim`) and export the URLs and
credentials it prints as KRAKEN_WS_URL, KRAKEN_REST_URL, KRAKEN_API_KEY and KRAKEN_API_SECRET.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from engine import Engine, EngineConfig

log = logging.getLogger("full_example")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    config = EngineConfig.from_env()
    with Engine(config) as engine:
        # handlers run on the engine's events thread: a log record is written whole, where a
        # print() beside the main thread's could interleave with its lines
        engine.on(
            "order",
            lambda event: log.info(
                "order event: %s %s", event.data.kind, event.data.order.order_id
            ),
        )
        engine.connect()

        placed = engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("1.2"),
            limit_price=Decimal("26500.4"),
            order_userref=100054,
        ).result(timeout=5)
        order_id = placed.result.order_id
        print("placed", order_id)

        amended = engine.amend_spot_order(order_id=order_id, limit_price=Decimal("26400.0"))
        print("amended", amended.result(timeout=5).result.amend_id)

        engine.cancel_spot_order(order_id=order_id).result(timeout=5)
        print("canceled", order_id)

        armed = engine.cancel_all_spot_orders_after(60).result(timeout=5)
        print("dead man's switch fires at", armed.result.trigger_time)

        batch = engine.batch_submit_spot_orders(
            symbol="BTC/USD",
            orders=[
                {
                    "order_type": "limit",
                    "side": "buy",
                    "order_qty": Decimal("0.5"),
                    "limit_price": Decimal("25000.0"),
                },
                {
                    "order_type": "limit",
                    "side": "sell",
                    "order_qty": Decimal("0.5"),
                    "limit_price": Decimal("28000.0"),
                },
            ],
        ).result(timeout=5)
        print("batch", [row.order_id for row in batch.result])

        cancelled = engine.cancel_all_spot_orders().result(timeout=5)
        print("cancel_all cancelled", cancelled.result.count)


if __name__ == "__main__":
    main()
