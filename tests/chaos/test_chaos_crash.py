"""The chaos workload with the engine's process killed (SIGKILL) mid-run and restarted on the
same database: after the restart the database equals the venue's ground truth exactly.
Simulator tier: `unlimited`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from chaos_support import (
    TIER,
    Watch,
    assert_database_matches_simulator,
    chaos_values,
    wait_quiescent,
)
from test_chaos import FAULTS

from engine import Engine
from engine.simulator import Simulator

HERE = Path(__file__).parent
OPS = int(os.environ.get("CHAOS_CRASH_OPS", "240"))
KILL_AT = OPS // 2


def test_chaos_killed_mid_run_then_restarted_equals_ground_truth(
    make_engine: Callable[..., Engine], sim: Simulator, database_url: str
) -> None:
    settings = chaos_values(sim, database_url)
    env = {**os.environ, **{f"KRAKEN_{k.upper()}": str(v) for k, v in settings.items()}}
    env.update(
        CHAOS_OPS=str(OPS),
        CHAOS_SEED=os.environ.get("CHAOS_SEED", "7"),
        KRAKEN_TEST_CONTROL_URL=sim.control_url,
        KRAKEN_ATTACH_DEFAULT_LISTENERS="false",
    )
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "chaos_process.py")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            assert line, "the chaos process ended before the kill"
            if line.startswith("STEP") and int(line.split()[1]) >= KILL_AT:
                break
        proc.send_signal(signal.SIGKILL)  # mid-run: requests in flight, faults armed
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    sim.control.reset_faults()
    engine = make_engine()  # the same database and account, a new process's life
    watch = Watch(engine)
    engine.connect(timeout=20)
    watch.wait_count("reconciled", 1, timeout=20)  # the dead run's orders, before anything new
    wait_quiescent(engine, watch, timeout=30)

    truth = assert_database_matches_simulator(engine, sim)
    fired = truth["state"]["faults_fired"]
    assert truth["state"]["tier"] == TIER
    assert all(fired[name] >= 1 for name in FAULTS), fired
    print(f"chaos+kill: orders={len(truth['orders'])} fills={len(truth['trades'])} {fired}")
    assert len(truth["orders"]) >= KILL_AT // 4
