"""Awaiting the engine's futures from asyncio: wrap each one with `asyncio.wrap_future`.

KRAKEN_API_KEY=... KRAKEN_API_SECRET=... python examples/asyncio_example.py
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from engine import Engine, EngineConfig


async def quote(engine: Engine) -> None:
    buy, sell = await asyncio.gather(
        asyncio.wrap_future(
            engine.submit_spot_order(
                order_type="limit",
                side="buy",
                symbol="BTC/USD",
                order_qty=Decimal("0.1"),
                limit_price=Decimal("25000.0"),
                post_only=True,
            )
        ),
        asyncio.wrap_future(
            engine.submit_spot_order(
                order_type="limit",
                side="sell",
                symbol="BTC/USD",
                order_qty=Decimal("0.1"),
                limit_price=Decimal("28000.0"),
                post_only=True,
            )
        ),
    )
    print("quoting", buy.result.order_id, sell.result.order_id)
    done = await asyncio.wrap_future(engine.cancel_all_spot_orders())
    print("cancelled", done.result.count)


def main() -> None:
    with Engine(EngineConfig.from_env()) as engine:
        engine.connect()
        asyncio.run(quote(engine))


if __name__ == "__main__":
    main()
