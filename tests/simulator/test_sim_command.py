"""`kraken-router sim` in its own process, driven through `SimulatorControl` over HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from engine.simulator import SimulatorControl
from scripts.sim import _shown_secret

ROOT = Path(__file__).resolve().parents[2]


def test_sim_command_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "sim", "--port", "0", "--tier", "intermediate",
         "--api-key", "local-key"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = {}
        for line in proc.stdout:
            if ":" in line and line.startswith("  "):
                name, _, value = line.strip().partition(" : ")
                lines[name.strip()] = value.strip()
            if line.startswith("Serving"):
                break
        assert lines["API key"] == "local-key"
        assert lines["WebSocket v2"].startswith("ws://127.0.0.1:")
        control = SimulatorControl(lines["control API"])
        state = control.wait_for(lambda s: s["tier"] == "intermediate", timeout=5)
        assert state["connections"] == 0 and state["orders"] == []
        reply = requests.get(lines["REST base"] + "/0/public/SystemStatus", timeout=5).json()
        assert reply["result"]["status"] == "online"
        control.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_a_secret_given_on_the_command_line_is_not_echoed() -> None:
    assert _shown_secret("c2VjcmV0", "generated") == "(as given with --api-secret)"
    assert _shown_secret(None, "generated") == "generated"
