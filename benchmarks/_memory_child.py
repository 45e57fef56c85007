"""The engine's own process for the memory benchmark: place orders, print RSS at each point.

Configured through environment variables (the simulator's local credentials never appear on a
command line or in output). Orders are IOC limit buys below the market: each is acknowledged,
then expires at once, so the engine's steady state is "many orders done", as in a long session.
"""

from __future__ import annotations

import gc
import os
import sys
from concurrent.futures import Future
from typing import Any

from benchmarks._common import limit_buy
from benchmarks._engine import tier_option
from engine import Engine, EngineConfig


def rss_kib() -> int:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    points = [int(p) for p in os.environ["KR_BENCH_POINTS"].split(",")]
    config = EngineConfig(
        api_key=os.environ["KR_BENCH_KEY"],
        api_secret=os.environ["KR_BENCH_SECRET"],
        ws_url=os.environ["KR_BENCH_WS_URL"],
        rest_url=os.environ["KR_BENCH_REST_URL"],
        database_url=os.environ["KR_BENCH_DATABASE_URL"],
        request_timeout=60.0,
        dead_mans_switch_timeout=0,
        attach_default_listeners=False,
        **tier_option(),
    )
    engine = Engine(config).start()
    try:
        engine.connect(timeout=30)
        print(f"START {rss_kib()}", flush=True)
        placed = 0
        for point in points:
            while placed < point:
                batch: list[Future[Any]] = [
                    engine.submit_spot_order(**limit_buy(placed + i, time_in_force="ioc"))
                    for i in range(min(200, point - placed))
                ]
                for future in batch:
                    future.result(timeout=60)
                placed += len(batch)
            engine.wait_for_events(timeout=60)
            live = engine.stats()["live_orders"]
            gc.collect()
            print(f"POINT {point} {rss_kib()} {live}", flush=True)
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
