"""The simulator in its own process: `python -m scripts.cli sim` on a free port, tier unlimited.

Its CPU time and memory are not the engine's, so the benchmarks measure only their own process.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from benchmarks._affinity import children_on, pinned, split_for
from benchmarks._common import TIER
from engine.simulator.control import SimulatorControl

__all__ = ["SimProcess", "free_port", "simulator"]

_ROOT = Path(__file__).resolve().parent.parent
_URL = re.compile(r"^\s*(WebSocket v2|REST base|control API)\s*:\s*(\S+)\s*$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SimProcess:
    """`with SimProcess() as sim:` gives `ws_url`, `rest_url`, `control_url`, `control`, and
    the local credentials it was started with (`api_key`, `api_secret`; never printed)."""

    def __init__(
        self, tier: str = TIER, start_timeout: float = 30.0, cpus: frozenset[int] | None = None
    ) -> None:
        self.tier = tier
        self.cpus = cpus  # the simulator's CPUs (all of its threads), None: the scheduler's
        self.api_key = "bench-" + secrets.token_hex(8)
        self.api_secret = base64.b64encode(secrets.token_bytes(64)).decode()
        self.ws_url = self.rest_url = self.control_url = ""
        self.pid = 0
        self._timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._control: SimulatorControl | None = None

    @property
    def control(self) -> SimulatorControl:
        assert self._control is not None, "simulator not started"
        return self._control

    def add_account(self) -> tuple[str, str]:
        """A fresh account on the simulator (its own orders and executions stream)."""
        key = "bench-" + secrets.token_hex(8)
        secret = base64.b64encode(secrets.token_bytes(64)).decode()
        return self.control.add_account(key, secret)

    def start(self) -> SimProcess:
        port = free_port()
        command = [sys.executable, "-m", "scripts.cli", "sim", "--port", str(port)]
        command += ["--api-key", self.api_key, "--api-secret", self.api_secret, "--tier", self.tier]
        with children_on(self.cpus):
            self._proc = subprocess.Popen(
                command,
                cwd=_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.pid = self._proc.pid
        urls: dict[str, str] = {}
        deadline = time.monotonic() + self._timeout
        assert self._proc.stdout is not None
        # the simulator prints its (local, generated) credentials too: read, never echo
        for line in self._proc.stdout:
            match = _URL.match(line)
            if match:
                urls[match.group(1)] = match.group(2)
            if line.startswith("Serving") or time.monotonic() > deadline:
                break
        if len(urls) != 3:
            self.stop()
            raise RuntimeError("the simulator did not start (no URLs printed)")
        self.ws_url, self.rest_url = urls["WebSocket v2"], urls["REST base"]
        self.control_url = urls["control API"]
        self._control = SimulatorControl(self.control_url, timeout=30.0)
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def simulator(pin: bool = False) -> Iterator[tuple[SimProcess, str]]:
    """A started simulator for a run, and where each side runs ("" when not pinned).

    `pin`: the simulator on the last CPU this process may use and every thread of this process
    on the others, for the block (refused with fewer than two CPUs).
    """
    split = split_for(pin)
    placement = ""
    if split is not None:
        placement = f"engine on CPU {_cpus(split[0])}, simulator on CPU {_cpus(split[1])}"
    with SimProcess(cpus=split[1] if split else None) as sim, pinned(split[0] if split else None):
        yield sim, placement


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))
