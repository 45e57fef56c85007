"""The dead man's switch against the simulator's ground truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine import Engine
from engine.simulator import Simulator

HERE = Path(__file__).parent


def _dms(sim: Simulator, state: dict[str, Any] | None = None) -> dict[str, Any]:
    state = state or sim.control.state()
    result: dict[str, Any] = state["dead_mans_switch"].get(sim.api_key, {})
    return result


def test_armed_within_a_second_of_authentication_and_rearmed_on_schedule(
    make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(dead_mans_switch_timeout=60, dead_mans_switch_interval=1)
    authenticated: list[datetime] = []
    armed = threading.Event()
    engine.on("authenticated", lambda _e: authenticated.append(engine._clock.now()))
    engine.on("dead_mans_switch", lambda _e: armed.set())
    engine.connect()
    assert armed.wait(5)
    first = _dms(sim)
    assert first["armed"]
    armed_at = datetime.fromtimestamp(float(first["armed_at"]), UTC)  # epoch seconds
    assert (armed_at - authenticated[0]).total_seconds() < 1.0
    # re-armed on schedule: every interval, each arm pushing the trigger time forward
    state = sim.control.wait_for(
        lambda s: s["dead_mans_switch"][sim.api_key]["arm_count"] >= 3, timeout=10
    )
    assert _dms(sim, state)["arm_count"] >= 3
    assert _dms(sim, state)["last_timeout"] == 60


def test_killed_engine_leaves_the_simulator_to_cancel_every_open_order(
    sim: Simulator, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "KRAKEN_API_KEY": sim.api_key,
        "KRAKEN_API_SECRET": sim.api_secret,
        "KRAKEN_WS_URL": sim.ws_url,
        "KRAKEN_REST_URL": sim.rest_url,
        "KRAKEN_DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}",
        "KRAKEN_DEAD_MANS_SWITCH_TIMEOUT": "2",
        "KRAKEN_DEAD_MANS_SWITCH_INTERVAL": "1",
        "KRAKEN_TEST_ORDERS": "3",
    }
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "engine_process.py")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        open_orders = [o for o in sim.control.state()["orders"] if o["status"] == "new"]
        assert len(open_orders) == 3
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        state = sim.control.wait_for(
            lambda s: all(o["status"] == "canceled" for o in s["orders"]), timeout=10
        )
        assert all(o["reason"] == "CancelAllOrdersAfter Timeout" for o in state["orders"])
        assert _dms(sim, state)["fired_count"] == 1
    finally:
        if proc.poll() is None:
            proc.kill()
