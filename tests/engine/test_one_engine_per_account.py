"""One engine per account on a database: a second one is refused at start, before it touches
Kraken; a run that died (process gone, or heartbeat stale) never blocks a restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine_support import engine_config, limit_buy
from sqlalchemy import func, select

from engine import Engine
from engine.errors import ConfigError
from engine.simulator import Simulator
from persistence import repository
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.models import EngineRunRow


def _runs(url: str) -> int:
    db = make_engine(url)
    try:
        with make_sessionmaker(db)() as session:
            return int(session.scalar(select(func.count()).select_from(EngineRunRow)) or 0)
    finally:
        db.dispose()


def _record_run(url: str, account: str, host: str, pid: int, heartbeat_age_s: float) -> None:
    """A run row as an engine that never recorded its end leaves it."""
    db = make_engine(url)
    ensure_schema(db)
    try:
        with make_sessionmaker(db)() as session, session.begin():
            at = datetime.now(UTC) - timedelta(seconds=heartbeat_age_s)
            run = repository.start_run(
                session, account=account, host=host, pid=pid, at=at, version="test"
            )
            repository.update_run(session, run, state="running")
    finally:
        db.dispose()


def _dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait(timeout=10)
    return probe.pid


def test_a_second_engine_on_the_account_is_refused_and_the_first_trades_on(
    sim: Simulator, tmp_path: Path
) -> None:
    config = engine_config(sim, tmp_path)
    with Engine(config) as first:
        first.connect()
        second = Engine(config)
        with pytest.raises(ConfigError, match=r"already traded by engine run 1 \(") as refused:
            second.start()
        assert "kraken-router shutdown" in str(refused.value)
        assert second.state == "stopped"
        assert first.submit_spot_order(**limit_buy()).result(timeout=5).success
    assert _runs(config.database_url) == 1  # the refused engine recorded no run
    assert len(sim.control.state()["orders"]) == 1


@pytest.mark.parametrize(
    ("where", "heartbeat_age_s"),
    [("this host, its process gone", 0.0), ("another host, heartbeat stale", 60.0)],
)
def test_a_run_that_died_does_not_block_a_restart(
    sim: Simulator, tmp_path: Path, where: str, heartbeat_age_s: float
) -> None:
    config = engine_config(sim, tmp_path)
    if where.startswith("this host"):
        host, pid = socket.gethostname(), _dead_pid()
    else:
        host, pid = "elsewhere", 1
    _record_run(config.database_url, config.account, host, pid, heartbeat_age_s)

    with Engine(config) as engine:
        engine.connect()
        assert engine.submit_spot_order(**limit_buy()).result(timeout=5).success


def test_a_live_run_on_another_host_is_refused(sim: Simulator, tmp_path: Path) -> None:
    config = engine_config(sim, tmp_path)
    _record_run(config.database_url, config.account, "elsewhere", 1, heartbeat_age_s=1.0)
    with pytest.raises(ConfigError, match="elsewhere:1, heartbeat"):
        Engine(config).start()
    assert sim.control.state()["orders"] == []


def test_a_run_recorded_with_this_processs_pid_by_an_earlier_process_does_not_block(
    sim: Simulator, tmp_path: Path
) -> None:
    """A container's strategy is often pid 1 every time: after a crash and a quick restart, the
    dead run has this process's host and pid, and a fresh heartbeat."""
    config = engine_config(sim, tmp_path)
    _record_run(config.database_url, config.account, socket.gethostname(), os.getpid(), 0.0)

    with Engine(config) as engine:
        engine.connect()
        assert engine.submit_spot_order(**limit_buy()).result(timeout=5).success
        with pytest.raises(ConfigError, match=r"already traded by engine run 2 \("):
            Engine(config).start()  # the live one in this process still counts
