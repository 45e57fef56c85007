"""3. Executions ingestion: execution updates applied and persisted per second.

Measured on the order manager directly: the simulator's control API `fill` costs an HTTP round
trip per fill and would measure the simulator, not us. Orders are placed for real through the
engine (so the order manager knows them), then realistic executions frames (one `trade` report
per frame, as Kraken sends them, with fees and running totals) are built, parsed with
`engine.kraken.executions.parse_executions` outside the clock, and told to the order manager's
inlet as `ExecutionsReceived`, exactly what the connection actor does. The clock stops when the
order manager has committed them all. The floor is a bare SQLite executemany of the same number
of fill rows in one transaction in this process: the cheapest way to persist them at all.

`python -m benchmarks.executions [--updates N] [--orders M]` runs the same frames through the
order manager's apply path in the calling thread, without the simulator or the actor's thread
(orders seeded in the database): a target for py-spy, cProfile or callgrind that sees nothing
else. Its figure is not a benchmark row.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.messages import ExecutionsReceived
from benchmarks._common import Goal, Section, Sizes, limit_buy, median_run, ratio
from benchmarks._engine import start_engine
from benchmarks._sim import SimProcess
from engine.kraken.executions import ExecutionsMessage, parse_executions
from persistence import repository

__all__ = ["run"]

_QTY = Decimal("1000")
_FILL = Decimal("0.001")


def _exec_id(seq: int) -> str:
    """An id shaped like Kraken's (and the simulator's): `T` and 16 base32 characters that look
    random, the same for the same `seq`. Sequential ids, used until 2026-12-04, kept every
    insert into the fills' unique (account, exec_id) index at its right edge, which a real
    stream of fills never does: they flattered the rate by 7-25% in three interleaved pairs."""
    chars = base64.b32encode(hashlib.blake2b(seq.to_bytes(8, "big"), digest_size=10).digest())
    text = chars.decode()
    return f"T{text[:5]}-{text[5:10]}-{text[10:16]}"


def _trade_frame(order: dict[str, Any], n: int, seq: int, at: datetime) -> dict[str, Any]:
    cum = _FILL * n
    price = order["limit_price"]
    report = {
        "order_id": order["order_id"],
        "cl_ord_id": order["cl_ord_id"],
        "exec_id": _exec_id(seq),
        "exec_type": "trade",
        "trade_id": 100_000 + seq,
        "symbol": "BTC/USD",
        "side": "buy",
        "order_type": "limit",
        "order_qty": _QTY,
        "limit_price": price,
        "last_qty": _FILL,
        "last_price": price,
        "cost": _FILL * price,
        "liquidity_ind": "m",
        "order_status": "partially_filled",
        "cum_qty": cum,
        "cum_cost": cum * price,
        "avg_price": price,
        "fees": [{"asset": "USD", "qty": Decimal("0.0026") * _FILL * price}],
        "fee_usd_equiv": Decimal("0.0026") * _FILL * price,
        "timestamp": (at + timedelta(microseconds=seq)).isoformat().replace("+00:00", "Z"),
    }
    return {"channel": "executions", "type": "update", "sequence": seq, "data": [report]}


def _floor_rate(path: Path, rows: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE fills (id INTEGER PRIMARY KEY, exec_id TEXT UNIQUE, order_id TEXT, "
            "price TEXT, qty TEXT, cost TEXT, fee TEXT, at TEXT)"
        )
        # the engine's exec_ids: the same unique index, fed the same keys
        values = [(_exec_id(i + 1), "O", "1000.0", "0.001", "1.0", "0.0026", "2024")
                  for i in range(rows)]  # fmt: skip
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO fills (exec_id, order_id, price, qty, cost, fee, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        db.execute("COMMIT")
        return rows / (time.perf_counter() - started)
    finally:
        db.close()


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "executions",
        "3. Executions ingestion: updates applied and persisted per second",
        ["path", "updates", "updates/s", "/ floor"],
    )
    # `goal_runs` runs, each on a fresh engine, database and account; the median decides
    runs = [_measure(sim, sizes, workdir / f"executions-{r}.db") for r in range(sizes.goal_runs)]
    rate, _, commits, stored = median_run(runs)
    (parse_rate,) = median_run([(r[1],) for r in runs])
    if stored != sizes.execution_updates:
        section.notes.append(
            f"WARNING: {stored} fills stored for {sizes.execution_updates} updates"
        )
    updates = sizes.execution_updates
    floor = _floor_rate(workdir / "executions-floor.db", updates)
    median = f", median of {len(runs)}" if len(runs) > 1 else ""
    section.rows.append(["bare sqlite3 executemany, one transaction (floor)", updates, floor,
                         1.0])  # fmt: skip
    section.rows.append([f"order manager: apply + persist (inlet -> commit){median}", updates,
                         rate, ratio(rate, floor)])  # fmt: skip
    section.rows.append([f"parse_executions alone (connection side){median}", updates,
                         parse_rate, ratio(parse_rate, floor)])  # fmt: skip
    section.goals.append(Goal(f">= 20,000 updates/s applied and persisted (got {rate:,.0f})",
                              rate >= 20_000))  # fmt: skip
    if len(runs) > 1:
        rates = ", ".join(f"{r[0]:,.0f}" for r in runs)
        section.notes.append(f"apply + persist: {rates} updates/s, in run order")
    section.notes.append(
        f"driven directly (ExecutionsReceived told to the order manager's inlet), one trade "
        f"report per frame over {sizes.execution_orders} orders, exec_ids shaped like "
        f"Kraken's (random-looking, as the simulator makes them); {commits} commits; "
        "parsing is measured separately and is not in the apply figure"
    )
    return section


def _measure(sim: SimProcess, sizes: Sizes, database: Path) -> tuple[float, float, int, int]:
    """(updates/s applied and persisted, updates/s parsed, commits, fills stored)."""
    key, secret = sim.add_account()
    engine = start_engine(sim, key, secret, database)
    try:
        orders = []
        for i in range(sizes.execution_orders):
            fields = limit_buy(i, order_qty=_QTY)
            response = engine.submit_spot_order(**fields).result(timeout=30)
            orders.append({**fields, "order_id": response.result.order_id,
                           "cl_ord_id": response.result.cl_ord_id})  # fmt: skip
        engine.wait_for_events(timeout=30)
        at = datetime.now(UTC)
        frames = [
            _trade_frame(orders[s % len(orders)], s // len(orders) + 1, s + 1, at)
            for s in range(sizes.execution_updates)
        ]
        parse_started = time.perf_counter()
        messages: list[ExecutionsMessage] = [parse_executions(f) for f in frames]
        parse_rate = len(frames) / (time.perf_counter() - parse_started)
        assert engine._orders is not None  # the benchmark drives the order manager directly
        manager = engine._orders
        inlet = manager.proxy().inlet.get(timeout=10)
        session_no = engine.connection_status()["session_no"]
        before = manager.proxy().stats().get(timeout=10)["commits"]
        started = time.perf_counter()
        for message in messages:
            inlet.tell(ExecutionsReceived(message, session_no))
        stats = manager.proxy().stats().get(timeout=600)  # answered after the inlet drained
        elapsed = time.perf_counter() - started
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            stored = db.execute("SELECT count(*) FROM fills").fetchone()[0]
    finally:
        engine.stop()
    return len(messages) / elapsed, parse_rate, stats["commits"] - before, stored


def drive_apply_path(updates: int, orders: int, directory: Path) -> float:
    """Updates per second through `OrderManagerActor._apply_facts` alone (no simulator, no
    actor thread, the engine's SQLite settings and WAL checkpointer), in 512-fact drains."""
    from actors.checkpointer import Checkpointer
    from actors.clock import SystemClock
    from actors.listeners import EventBus
    from actors.order_manager import Intake, OrderManagerActor
    from persistence.db import ensure_schema, make_engine, make_sessionmaker

    database = make_engine(f"sqlite:///{directory / 'apply.db'}", wal_autocheckpoint=0)
    ensure_schema(database)
    checkpointer = Checkpointer(database)
    checkpointer.start()
    sessions = make_sessionmaker(database)
    clock = SystemClock()
    now = clock.now()
    placed = []
    with sessions() as session, session.begin():
        for i in range(orders):
            fields = limit_buy(i, order_qty=_QTY)
            order = {**fields, "order_id": f"OAPPLY-{i:06d}", "cl_ord_id": f"apply-{i}"}
            repository.insert_order(session, account="apply", params=fields, status="new",
                                    created_at=now, **order)  # fmt: skip
            placed.append(order)
    manager = OrderManagerActor(account="apply", sessions=sessions, clock=clock,
                                events=EventBus(), intake=Intake(),
                                connection=lambda: None, run_id=None)  # fmt: skip
    try:
        manager.on_start()
        facts = [
            ExecutionsReceived(
                parse_executions(_trade_frame(placed[s % orders], s // orders + 1, s + 1, now)), 1
            )
            for s in range(updates)
        ]
        started = time.perf_counter()
        for first in range(0, updates, 512):
            manager._apply_facts(facts[first : first + 512])
        return updates / (time.perf_counter() - started)
    finally:
        manager.on_stop()
        checkpointer.stop()
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=drive_apply_path.__doc__)
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        rate = drive_apply_path(args.updates, args.orders, Path(directory))
    print(f"{args.updates:,} updates over {args.orders} orders: {rate:,.0f} updates/s applied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
