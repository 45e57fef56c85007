"""A strategy process running the chaos workload, for the test that kills it mid-run.

The engine comes from KRAKEN_* variables; the simulator runs in the test's process and is driven
through its control API (KRAKEN_TEST_CONTROL_URL). Prints `STEP n` every ten operations, then
`DONE`, and blocks until the test kills it.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from chaos_support import Watch
from test_chaos import FAULTS, ChaosRun

from engine import Engine, EngineConfig
from engine.simulator import SimulatorControl


class _Venue:
    """What the chaos run needs of the simulator: its control API."""

    def __init__(self, control_url: str) -> None:
        self.control = SimulatorControl(control_url)


def main() -> None:
    engine = Engine(EngineConfig.from_env(attach_default_listeners=False)).start()
    watch = Watch(engine)
    engine.connect()
    ops = int(os.environ["CHAOS_OPS"])
    rng = random.Random(int(os.environ["CHAOS_SEED"]))
    run = ChaosRun(engine, _Venue(os.environ["KRAKEN_TEST_CONTROL_URL"]), watch, rng)  # type: ignore[arg-type]
    early = range(5, max(ops // 4, 30))  # every fault well before the kill
    forced = dict(zip(rng.sample(early, 5), FAULTS[1:], strict=True))
    run.arm_drop()
    for step in range(ops):
        run.chaos(step, forced.get(step))
        run.operate()
        if step % 5 == 0:
            run.learn()
        if step % 10 == 0:
            print(f"STEP {step}", flush=True)
    print("DONE", flush=True)
    sys.stdin.read()  # block until the test kills us


if __name__ == "__main__":
    main()
