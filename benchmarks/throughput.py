"""2. Throughput: orders acknowledged and persisted per second, 1/4/16 submitting threads.

Closed loop: each thread submits and waits for the acknowledgement before the next order, so
one thread gives the engine one order at a time, and more threads let the intake group several
orders into one commit. A one-thread closed loop is bounded by the round trip (the floor's alone
is 0.4 ms here: 2,500/s), so it says how latency limits a strategy that waits for each answer,
not what the engine can persist. The pipelined rows let each of 16 threads keep 32 orders in
flight: grouped as the engine does by default, and with `max_orders_per_commit=1`, every order
committed alone before it is sent (the contract's "one commit per order"). The clock stops when
every order's acknowledgement is in the database (`order_id` set on its row), not when the
futures resolve. The floor is one bare socket pipelining add_order (256 in flight) with nothing
persisted: the simulator's capacity as the leanest client sees it. Until the fifth session that
client checked UTF-8 in pure Python, and the floor was its own CPU (3,700-4,600 orders/s here),
not the simulator's (7,500-13,000).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from benchmarks._common import Goal, Section, Sizes, limit_buy, median_run, percentile, ratio
from benchmarks._engine import start_engine
from benchmarks._floor import RawClient
from benchmarks._sim import SimProcess

__all__ = ["run"]

_PIPELINE = 32


def _floor_rate(sim: SimProcess, n: int) -> tuple[float, float]:
    """(orders/s, client CPU us per order)."""
    key, secret = sim.add_account()
    client = RawClient(sim.ws_url, sim.rest_url, key, secret)
    try:
        frames = [client.add_order_frame(limit_buy(i)) for i in range(n)]
        window = 256
        started = time.perf_counter()
        cpu = time.process_time()
        in_flight = 0
        for frame in frames:
            client.send_add_order(frame)
            in_flight += 1
            if in_flight >= window:
                assert client.next_response().get("success")
                in_flight -= 1
        for _ in range(in_flight):
            assert client.next_response().get("success")
        return n / (time.perf_counter() - started), _us_per(time.process_time() - cpu, n)
    finally:
        client.close()


def _us_per(seconds: float, n: int) -> float:
    return 1e6 * seconds / n


def _acknowledged(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        count: int = db.execute(
            "SELECT count(*) FROM orders WHERE order_id IS NOT NULL"
        ).fetchone()[0]
    return count


def _worker(engine: Any, orders: list[dict[str, Any]], window: int, latencies: list[float]) -> None:
    pending: list[tuple[float, Future[Any]]] = []
    for fields in orders:
        pending.append((time.perf_counter(), engine.submit_spot_order(**fields)))
        if len(pending) >= window:
            for started, future in pending:
                future.result(timeout=60)
                latencies.append(time.perf_counter() - started)
            pending = []
    for started, future in pending:
        future.result(timeout=60)
        latencies.append(time.perf_counter() - started)


def _engine_rate(
    sim: SimProcess,
    database: Path,
    synchronous: str,
    threads: int,
    window: int,
    n: int,
    orders_per_commit: int | None,
) -> tuple[float, float, float, float]:
    """(orders/s, commits per order, p50 ack latency ms, this process's CPU us per order);
    `orders_per_commit` None leaves the engine's own grouping."""
    key, secret = sim.add_account()
    grouping = {} if orders_per_commit is None else {"max_orders_per_commit": orders_per_commit}
    engine = start_engine(sim, key, secret, database, sqlite_synchronous=synchronous, **grouping)
    try:
        for i in range(20):  # warm-up
            engine.submit_spot_order(**limit_buy(i)).result(timeout=30)
        while _acknowledged(database) < 20:
            time.sleep(0.005)
        commits_before = engine.stats()["commits"]
        per_thread = max(1, n // threads)
        latencies: list[float] = []
        workers = [
            threading.Thread(
                target=_worker,
                args=(
                    engine,
                    [limit_buy(t * per_thread + i) for i in range(per_thread)],
                    window,
                    latencies,
                ),
            )
            for t in range(threads)
        ]
        total = 20 + per_thread * threads
        started = time.perf_counter()
        cpu = time.process_time()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        while _acknowledged(database) < total:
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        commits = engine.stats()["commits"] - commits_before
        done = per_thread * threads
        return done / elapsed, commits / done, 1000 * percentile(latencies, 50), _us_per(cpu, done)
    finally:
        engine.stop()


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "throughput",
        "2. Throughput: orders acknowledged and persisted per second",
        [
            "synchronous",
            "threads",
            "mode",
            "orders/s",
            "commits/order",
            "ack p50 ms",
            "CPU us/order",
            "/ floor",
        ],
    )
    n = sizes.throughput_orders
    floor, floor_cpu = _floor_rate(sim, n)
    section.rows.append(["-", 1, "bare socket, 256 in flight (floor)", floor, "-", "-",
                         floor_cpu, 1.0])  # fmt: skip
    best: dict[tuple[str, str], float] = {}
    # (threads, in flight per thread, orders per commit, mode, goal kind)
    widest = max(sizes.thread_counts)
    runs: list[tuple[int, int, int | None, str, str | None]] = [
        (t, 1, None, "closed loop", None if t == 1 else "grouped") for t in sizes.thread_counts
    ]
    runs.append((widest, _PIPELINE, None, f"{_PIPELINE} in flight per thread", "grouped"))
    runs.append((widest, _PIPELINE, 1, f"{_PIPELINE} in flight, one order per commit", "single"))
    plan = [(sync, row) for sync in ("NORMAL", "FULL") for row in range(len(runs))]
    # the pipelined NORMAL rows decide the goals: they run `goal_runs` times, the repeats after
    # every row's first run and alternating (grouped, single, grouped, ...), since this
    # machine's speed drifts by 10-25% over minutes; each reports its median run
    repeated = [(s, row) for s, row in plan if s == "NORMAL" and runs[row][1] > 1]
    plan += [step for _ in range(sizes.goal_runs - 1) for step in repeated]
    results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    for attempt, (synchronous, row) in enumerate(plan):
        threads, window, per_commit, _mode, _kind = runs[row]
        database = workdir / f"throughput-{synchronous}-{row}-{attempt}.db"
        results.setdefault((synchronous, row), []).append(
            _engine_rate(sim, database, synchronous, threads, window, n, per_commit)
        )
    for synchronous in ("NORMAL", "FULL"):
        for row, (threads, _window, _per_commit, mode, kind) in enumerate(runs):
            measured = results[(synchronous, row)]
            rate, per_order, p50, cpu = median_run(measured)
            if len(measured) > 1:
                mode = f"{mode}, median of {len(measured)}"
                rates = ", ".join(f"{m[0]:,.0f}" for m in measured)
                section.notes.append(f"{synchronous} {mode}: {rates} orders/s, in run order")
            section.rows.append([synchronous, threads, mode, rate, per_order, p50, cpu,
                                 ratio(rate, floor)])  # fmt: skip
            if kind is not None:
                best[(synchronous, kind)] = max(best.get((synchronous, kind), 0.0), rate)

    def check(sync: str, kind: str, goal: float) -> Goal:
        return Goal(
            f"{kind} commits, synchronous={sync}: >= {goal:,.0f} orders/s "
            f"(got {best[(sync, kind)]:,.0f})",
            best[(sync, kind)] >= goal,
        )

    section.goals.append(check("NORMAL", "grouped", 5000))
    section.goals.append(check("NORMAL", "single", 2500))
    section.notes.append(
        f"{n:,} orders per row, a fresh database and simulator account per row; 'single' is the "
        "pipelined row with max_orders_per_commit=1 (each order committed alone before it is "
        "sent), 'grouped' the best other multi-thread row; commits/order counts every "
        "transaction (the answers and reports are applied in groups in both); the one-thread "
        "closed loop is bounded by the round trip, not by what the engine persists, and is in "
        "no goal; FULL rows are reported, the goals are for NORMAL"
    )
    section.notes.append(
        "floor: the simulator's capacity as a lean client sees it (nothing built, checked or "
        "persisted; UTF-8 checked by Python's decode, as the engine's transport does)"
    )
    section.notes.append(
        "CPU us/order: this process's CPU time (every thread; the simulator runs in its own) "
        "over the orders. The engine is one GIL: with the simulator on the other core, its "
        "grouped rate is about 1e6 / this figure, and the figure moves far less than the rate "
        "on a shared machine. 5,000 orders/s asks for at most 200 us"
    )
    return section
