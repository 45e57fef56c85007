"""Drive the engine's hot paths for a profiler (py-spy), the simulator in its own process.

Run: `py-spy record -- python -m benchmarks.profile_hot_path`.

Phase `submit`: closed-loop submit -> ack (one thread). Phase `executions`: trade reports told to
the order manager's inlet. The simulator runs in its own process, so the profile is the engine's.
py-spy is a dev-only tool (`pip install py-spy`), not a project dependency.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from actors.messages import ExecutionsReceived
from benchmarks._common import limit_buy
from benchmarks._engine import start_engine
from benchmarks._sim import SimProcess
from benchmarks.executions import _QTY, _trade_frame
from engine.kraken.executions import parse_executions


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--fills", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SimProcess() as sim:
        key, secret = sim.add_account()
        engine = start_engine(sim, key, secret, Path(tmp) / "profile.db")
        try:
            orders = []
            for i in range(args.orders):
                fields = limit_buy(i, order_qty=_QTY)
                result = engine.submit_spot_order(**fields).result(timeout=30).result
                if i < 100:
                    orders.append({**fields, "order_id": result.order_id,
                                   "cl_ord_id": result.cl_ord_id})  # fmt: skip
            engine.wait_for_events(timeout=30)
            at = datetime.now(UTC)
            messages = [
                parse_executions(_trade_frame(orders[s % 100], s // 100 + 1, s + 1, at))
                for s in range(args.fills)
            ]
            assert engine._orders is not None
            inlet = engine._orders.proxy().inlet.get(timeout=10)
            session_no = engine.connection_status()["session_no"]
            for message in messages:
                inlet.tell(ExecutionsReceived(message, session_no))
            engine._orders.proxy().stats().get(timeout=600)
        finally:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
