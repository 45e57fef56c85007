"""Real processes against the real simulator and a real SQLite file: an engine subprocess, the
`kraken-router` command as a subprocess, and a line reader that waits with a timeout."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.simulator import Simulator
from persistence.db import make_engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass
class Proc:
    """A subprocess whose stdout lines are collected by a thread, so tests wait on lines."""

    popen: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def start_reader(self) -> Proc:
        def read() -> None:
            assert self.popen.stdout is not None
            for line in self.popen.stdout:
                self.lines.put(line.rstrip("\n"))
            self.lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        return self

    def wait_line(self, prefix: str, timeout: float = 20.0) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"process ended before {prefix!r}: {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def output(self) -> str:
        """Everything printed (call once the process has ended)."""
        while True:
            line = self.lines.get(timeout=10)
            if line is None:
                return "\n".join(self.seen)
            self.seen.append(line)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'orders.db'}"


@pytest.fixture
def env(sim: Simulator, db_url: str) -> dict[str, str]:
    """What an engine (and the scripts' REST fallback) read; short timers for quick tests."""
    return {
        **os.environ,
        "KRAKEN_API_KEY": sim.api_key,
        "KRAKEN_API_SECRET": sim.api_secret,
        "KRAKEN_WS_URL": sim.ws_url,
        "KRAKEN_REST_URL": sim.rest_url,
        "KRAKEN_DATABASE_URL": db_url,
        "KRAKEN_REQUEST_TIMEOUT": "3",
        "KRAKEN_DEAD_MANS_SWITCH_TIMEOUT": "30",
        "KRAKEN_DEAD_MANS_SWITCH_INTERVAL": "5",
        "KRAKEN_RATE_LIMIT_TIER": "unlimited",
        "KRAKEN_HEARTBEAT_INTERVAL": "0.25",
        "KRAKEN_TEST_ORDERS": "3",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def spawn(env: dict[str, str]) -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def _spawn(*args: str, extra_env: dict[str, str] | None = None) -> Proc:
        popen = subprocess.Popen(
            [sys.executable, *args],
            env={**env, **(extra_env or {})},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        proc = Proc(popen).start_reader()
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait(timeout=10)


@pytest.fixture
def engine_proc(spawn: Callable[..., Proc]) -> Callable[[], Proc]:
    """An engine subprocess with three resting orders, once it has printed READY."""

    def _start() -> Proc:
        proc = spawn(str(HERE / "engine_process.py"))
        proc.wait_line("READY", timeout=30)
        return proc

    return _start


@pytest.fixture
def cli(spawn: Callable[..., Proc]) -> Callable[..., tuple[int, str]]:
    """Run `kraken-router ARGS...` to completion: (exit status, output)."""

    def _run(*args: str, timeout: float = 40.0) -> tuple[int, str]:
        proc = spawn("-m", "scripts.cli", *args)
        rc = proc.popen.wait(timeout=timeout)
        return rc, proc.output()

    return _run


def query(url: str, sql: str, **params: Any) -> list[Any]:
    db = make_engine(url)
    try:
        with db.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        db.dispose()
