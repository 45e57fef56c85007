"""An engine process for the operator tests: configured from KRAKEN_* variables, it places
KRAKEN_TEST_ORDERS resting orders, prints READY, then lives until a safe shutdown (requested
through the database) has finished, and exits 0 only if that shutdown was verified."""

from __future__ import annotations

import os
import sys
from decimal import Decimal

from engine import Engine, EngineConfig


def main() -> int:
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
    report = None
    while report is None:
        report = engine.wait_shutdown(timeout=0.5)
    print("SHUTDOWN", "ok" if report.ok else f"failed: {report.error}", flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
