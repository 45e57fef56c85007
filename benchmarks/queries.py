"""5. History queries on a large SQLite database, through `persistence.history.History`.

The database is seeded by bulk insert (the newest 50 orders open, the rest terminal, two
journal entries per order, a fill for every fourth). Besides the issue's three queries, the
newest fills (`kraken-router fills`): 260-340 ms at 1,000,000 orders until the fills had an
index by time. The floor is the same query written by hand (the same columns, filters and
order as `History` reads) on a bare `sqlite3` connection to the same file, rows fetched as
tuples; the section notes SQLite's plan for each floor query.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Goal, Section, Sizes, ratio, summary_ms
from benchmarks._seed import bulk_history
from benchmarks._sim import SimProcess
from persistence.history import History

__all__ = ["run"]

_ACCOUNT = "bench-history"
_OPEN = "('pending_submit', 'submitted', 'pending_new', 'new', 'partially_filled')"
# the columns of `OrderRecord`, in its order (what `History` selects)
_ORDER = (
    "id, account, order_id, cl_ord_id, order_userref, symbol, side, order_type, order_qty, "
    "limit_price, status, cum_qty, avg_price, fees, created_at, updated_at, closed_at, origin, "
    "reason, replaces_id"
)


def _time(call: Callable[[], Any], repeats: int) -> list[float]:
    call()  # warm the caches: the figure is for a running process, not a cold file
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "queries",
        f"5. History queries with {sizes.query_orders:,} orders in SQLite, ms",
        ["query", "rows", "p50 ms", "p99 ms", "floor p50 ms", "p50 / floor", "p99 / floor"],
    )
    database = workdir / "queries.db"
    seeded = time.perf_counter()
    bulk_history(database, _ACCOUNT, sizes.query_orders)
    seed_s = time.perf_counter() - seeded
    target = f"OHIST-{sizes.query_orders // 2:09d}"
    history = History(f"sqlite:///{database}")
    raw = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)

    open_sql = (
        f"SELECT {_ORDER} FROM orders WHERE account = ? AND status IN {_OPEN} "
        "ORDER BY created_at DESC, id DESC"
    )
    last_sql = (
        f"SELECT {_ORDER} FROM orders WHERE account = ? AND symbol = ? "
        "ORDER BY created_at DESC, id DESC LIMIT 100"
    )
    find_sql = f"SELECT {_ORDER} FROM orders WHERE order_id = ? ORDER BY id DESC LIMIT 1"
    events_sql = "SELECT * FROM order_events WHERE order_pk = ? ORDER BY id"
    fills_sql = "SELECT * FROM fills WHERE order_pk = ? ORDER BY at, id"
    newest_fills_sql = "SELECT * FROM fills ORDER BY at DESC, id DESC LIMIT 50"

    def raw_timeline() -> list[Any]:
        # one snapshot, as History reads it
        raw.execute("BEGIN")
        order = raw.execute(find_sql, (target,)).fetchall()[0]
        events = raw.execute(events_sql, (order[0],)).fetchall()
        fills = raw.execute(fills_sql, (order[0],)).fetchall()
        raw.execute("COMMIT")
        return [order, *events, *fills]

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "open orders",
            lambda: history.open_orders(account=_ACCOUNT),
            lambda: raw.execute(open_sql, (_ACCOUNT,)).fetchall(),
        ),
        (
            "last 100 orders of BTC/USD",
            lambda: history.orders(account=_ACCOUNT, symbol="BTC/USD", limit=100),
            lambda: raw.execute(last_sql, (_ACCOUNT, "BTC/USD")).fetchall(),
        ),
        ("one order's timeline", lambda: history.timeline(target), raw_timeline),
        (
            "newest 50 fills (kraken-router fills)",
            lambda: history.fills(limit=50),
            lambda: raw.execute(newest_fills_sql).fetchall(),
        ),
    ]
    plans = {
        "open orders": _plan(raw, open_sql, (_ACCOUNT,)),
        "last 100": _plan(raw, last_sql, (_ACCOUNT, "BTC/USD")),
        "timeline": "; ".join(_plan(raw, sql, (1,)) for sql in (find_sql, events_sql, fills_sql)),
        "newest fills": _plan(raw, newest_fills_sql, ()),
    }
    worst = 0.0
    try:
        for name, query, floor_query in cases:
            result = query()
            rows = len(result) if isinstance(result, list) else 1 + len(result.events)
            p50, p99 = summary_ms(_time(query, sizes.query_repeats))
            f50, f99 = summary_ms(_time(floor_query, sizes.query_repeats))
            worst = max(worst, p50)
            section.rows.append([name, rows, p50, p99, f50, ratio(p50, f50), ratio(p99, f99)])
    finally:
        raw.close()
        history.close()
    section.goals.append(Goal(f"<= 5 ms each at p50 (worst {worst:.2f} ms)", worst <= 5.0))
    section.notes.append(
        f"seeded {sizes.query_orders:,} orders by bulk insert in {seed_s:.1f} s (not measured); "
        f"{sizes.query_repeats} repeats per query after one warm-up call"
    )
    section.notes.append(
        "floor: the same columns, filters and order as History, by hand on sqlite3 "
        "(the timeline in one BEGIN ... COMMIT like History's)"
    )
    section.notes.extend(f"plan, {name}: {plan}" for name, plan in plans.items())
    return section


def _plan(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> str:
    """SQLite's EXPLAIN QUERY PLAN, one line: which index serves the query."""
    steps = raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return ", ".join(str(step[3]) for step in steps)
