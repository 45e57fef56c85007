"""The engine and its database: refusals at start, PostgreSQL, two accounts, concurrent readers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pg_support import private_schema

from engine import Engine, EngineConfig
from engine.errors import DatabaseError
from engine.simulator import Simulator
from persistence.db import make_engine, upgrade
from persistence.history import History

# orders per second written while another process reads (issue 4); how long the engine's
# writes took meanwhile is measured by `python -m benchmarks --only reader`
RATE = int(os.environ.get("KRAKEN_TEST_WRITE_RATE", "500"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A private schema on the real PostgreSQL server, migrated by the operator's command."""
    with private_schema("kr_engine") as url:
        yield url


def _config(sim: Simulator, database_url: str, **extra: Any) -> EngineConfig:
    return EngineConfig(
        **{
            "api_key": sim.api_key,
            "api_secret": sim.api_secret,
            "ws_url": sim.ws_url,
            "rest_url": sim.rest_url,
            "database_url": database_url,
            "request_timeout": 5.0,
            "dead_mans_switch_timeout": 0,
            "rate_limit_tier": "unlimited",
            **extra,
        }
    )


def _order(price: str, **extra: Any) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(price),
        **extra,
    }


def _unusable_databases(tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    return {
        "cannot be opened": f"sqlite:///{blocker}/orders.db",
        "newer than the code": f"sqlite:///{newer}",
        "not this engine's": f"sqlite:///{foreign}",
    }


@pytest.mark.parametrize("case", ["cannot be opened", "newer than the code", "not this engine's"])
def test_unusable_database_refused_before_any_connection_to_kraken(
    sim: Simulator, tmp_path: Path, case: str
) -> None:
    url = _unusable_databases(tmp_path)[case]
    engine = Engine(_config(sim, url))
    with pytest.raises(DatabaseError) as caught:
        engine.start()
    assert str(caught.value)  # says what is wrong and what to do
    assert sim.exchange.issued_tokens(sim.api_key) == [], "Kraken was never contacted"
    assert sim.control.state()["connections"] == 0


def test_engine_end_to_end_on_postgresql(sim: Simulator, pg_url: str) -> None:
    with pytest.raises(DatabaseError, match="db upgrade"):
        Engine(_config(sim, pg_url)).start()  # PostgreSQL is migrated by the operator only
    database = make_engine(pg_url)
    upgrade(database)
    database.dispose()
    with Engine(_config(sim, pg_url)) as engine:
        canceled = threading.Event()
        engine.on("order", lambda e: canceled.set() if e.data.kind == "order_canceled" else None)
        engine.connect()
        placed = engine.submit_spot_order(**_order("20000.1")).result(timeout=5)
        sim.control.fill(placed.result.order_id, qty=Decimal("0.004"))
        engine.cancel_spot_order(order_id=placed.result.order_id).result(timeout=5)
        assert canceled.wait(5)
        truth = sim.control.state()
    [row] = History(pg_url).orders()
    expected = truth["orders"][0]
    assert (row.status, row.cum_qty, row.fees) == (
        "canceled",
        expected["cum_qty"],
        expected["fees"],
    )
    assert row.avg_price == expected["avg_price"]
    [fill] = History(pg_url).fills()
    assert fill.qty == Decimal("0.004")


def test_two_engines_with_different_keys_share_one_postgresql(sim: Simulator, pg_url: str) -> None:
    database = make_engine(pg_url)
    upgrade(database)
    database.dispose()
    other_key, other_secret = sim.add_account()
    first = Engine(_config(sim, pg_url)).start()
    second = Engine(_config(sim, pg_url, api_key=other_key, api_secret=other_secret)).start()
    try:
        first.connect()
        second.connect()
        mine = [first.submit_spot_order(**_order(f"2000{i}.0")) for i in range(5)]
        theirs = [second.submit_spot_order(**_order(f"3000{i}.0")) for i in range(7)]
        mine_ids = {f.result(timeout=5).result.order_id for f in mine}
        their_ids = {f.result(timeout=5).result.order_id for f in theirs}
        first.wait_for_events()
        second.wait_for_events()
    finally:
        first.stop()
        second.stop()
    history = History(pg_url)
    assert {o.order_id for o in history.orders(account=first.config.account)} == mine_ids
    assert {o.order_id for o in history.orders(account=second.config.account)} == their_ids
    assert first.config.account != second.config.account


@pytest.fixture
def sim_process() -> Iterator[dict[str, str]]:
    """The simulator in a process of its own, as the real venue would be: only the engine's
    threads share this interpreter."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.cli", "sim", "--tier", "unlimited"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    found: dict[str, str] = {}
    labels = {"WebSocket v2": "ws_url", "REST base": "rest_url", "API key": "api_key",
              "API secret": "api_secret"}  # fmt: skip
    while len(found) < len(labels):
        line = proc.stdout.readline()
        assert line, "the simulator exited before printing its URLs"
        label, _, value = line.partition(":")
        if label.strip() in labels:
            found[labels[label.strip()]] = value.strip()
    try:
        yield found
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_reader_process_never_blocks_or_sees_a_locked_database(
    sim_process: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    engine = Engine(
        EngineConfig(
            database_url=url,
            dead_mans_switch_timeout=0,
            rate_limit_tier="unlimited",
            **sim_process,
        )
    ).start()
    engine.connect()
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, url, "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    futures = []
    stop = threading.Event()

    def writer() -> None:
        # RATE orders per second, paced against the clock, for as long as the reader runs
        started = time.monotonic()
        i = 0
        while not stop.is_set():
            futures.append(engine.submit_spot_order(**_order(f"{10000 + i}.0")))
            i += 1
            stop.wait(max(0.0, started + i / RATE - time.monotonic()))

    thread = threading.Thread(target=writer)
    thread.start()
    out, err = reader.communicate(timeout=60)
    stop.set()
    thread.join(timeout=10)
    assert reader.returncode == 0, err
    queries, errors = (int(x) for x in out.split())
    assert errors == 0 and queries > 0
    assert all(f.result(timeout=10).success for f in futures)
    engine.wait_for_events()
    assert len(History(url).orders()) == len(futures) > RATE * 8
    # how long the engine's write transactions took meanwhile is a figure for the benchmark
    # (`python -m benchmarks`), not an assertion: wall-clock limits make tests flaky
    stats = engine.stats()
    engine.stop()
    print("engine write path while a reader looped:", stats)
    assert stats["commits"] > 0


_READER = """
import sys, time
from persistence.history import History
url, seconds = sys.argv[1], float(sys.argv[2])
history = History(url)
deadline = time.monotonic() + seconds
queries = errors = 0
while time.monotonic() < deadline:
    try:
        history.orders(status="open", limit=100)
        history.orders(symbol="BTC/USD", limit=100)
        history.fills(limit=100)
        queries += 3
    except Exception as exc:
        errors += 1
        print(repr(exc), file=sys.stderr)
print(queries, errors)
"""
