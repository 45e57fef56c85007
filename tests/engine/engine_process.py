"""A strategy process for tests that kill it: starts an engine from KRAKEN_* variables,
places KRAKEN_TEST_ORDERS resting orders, prints READY, then waits to be killed."""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from engine import Engine, EngineConfig


def main() -> None:
    engine = Engine(EngineConfig.from_env()).start()
    engine.connect()
    for i in range(int(os.environ.get("KRAKEN_TEST_ORDERS", "3"))):
        engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("1"),
            limit_price=Decimal(20000 + i),
        ).result(timeout=10)
    print("READY", flush=True)
    sys.stdin.read()  # block until the test kills us


if __name__ == "__main__":
    main()
