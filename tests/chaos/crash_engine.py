"""A strategy process for the crash tests (the chaos suite's own copy of engine_process.py).

Starts an engine from KRAKEN_* variables, places KRAKEN_TEST_ORDERS resting orders (waiting for
each acknowledgement), prints READY; then, on a `go` line, fires KRAKEN_TEST_BURST more orders
without waiting, prints BURST, and blocks until the test kills it.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from engine import Engine, EngineConfig


def main() -> None:
    engine = Engine(EngineConfig.from_env(attach_default_listeners=False)).start()
    engine.connect()
    for i in range(int(os.environ.get("KRAKEN_TEST_ORDERS", "3"))):
        engine.submit_spot_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("1"),
            limit_price=Decimal(20000 + i),
            cl_ord_id=f"rest-{i}",
        ).result(timeout=10)
    print("READY", flush=True)
    if sys.stdin.readline().strip() == "go":
        for i in range(int(os.environ.get("KRAKEN_TEST_BURST", "0"))):
            engine.submit_spot_order(
                order_type="limit",
                side="sell",
                symbol="BTC/USD",
                order_qty=Decimal("0.5"),
                limit_price=Decimal(90000 + i),
                cl_ord_id=f"burst-{i}",
            )
        print("BURST", flush=True)
    sys.stdin.read()  # block until the test kills us


if __name__ == "__main__":
    main()
