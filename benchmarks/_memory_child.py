"""The engine's own process for the memory benchmark: place orders, print RSS at each point.

Configured through environment variables (the simulator's local credentials never appear on a
command line or in output). `KR_BENCH_WORKLOAD` picks the orders: `ioc` (the default), IOC
limit buys below the market, each acknowledged, then expired at once, so the engine's steady
state is "many orders done", as in a long session; or `mixed`, market buys filled at once and
resting buys amended or edited, then canceled (see `_mixed`).

Nothing here tidies the process before a reading (no `gc.collect()`, no `malloc_trim`): the
figure is what the engine itself leaves resident after the workload. It prints

    START <VmRSS KiB> <VmHWM KiB> <RssAnon KiB> <RssFile KiB>

once connected, then one line per point:

    POINT <orders> <VmRSS KiB> <live orders> <VmHWM KiB> <RssAnon KiB> <RssFile KiB>
          <orders held in memory or -> <WAL bytes or ->

`KR_BENCH_MEMORY_DETAIL=1` adds `DETAIL` lines after each reading (object counts by type that
grew since the previous point, glibc malloc totals, SQLite's heap, pymalloc's arenas): a
diagnosis aid that itself allocates, so figures from such a run are not the benchmark's.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import sys
import tempfile
import warnings
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from benchmarks._common import limit_buy
from benchmarks._engine import tier_option
from engine import Engine, EngineConfig

_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def proc_status() -> dict[str, int]:
    """VmRSS, VmHWM (peak), RssAnon and RssFile of this process, in KiB (0 when unknown)."""
    values = dict.fromkeys(_FIELDS, 0)
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0])
    return values


def wal_bytes(database_url: str) -> int | None:
    """Size of the SQLite write-ahead log: its index (-shm) is mapped into the process."""
    if not database_url.startswith("sqlite:///"):
        return None
    wal = database_url.removeprefix("sqlite:///") + "-wal"
    return os.path.getsize(wal) if os.path.exists(wal) else 0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _malloc_line() -> str:
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallinfo2 = libc.mallinfo2
    except (OSError, AttributeError):
        return "malloc: not glibc"
    mallinfo2.restype = _Mallinfo2
    info = mallinfo2()
    return (
        f"malloc (all arenas): heap {info.arena // 1024} KiB, in use {info.uordblks // 1024} KiB, "
        f"free {info.fordblks // 1024} KiB, mmapped {info.hblkhd // 1024} KiB"
    )


def _sqlite_line() -> str:
    """SQLite's own heap (page caches, statements, schema) across every connection."""
    try:
        library = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        return "sqlite: no shared libsqlite3"
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return f"sqlite (all connections): {library.sqlite3_memory_used() // 1024} KiB"


def _pymalloc_line() -> str:
    """Python's small-object allocator: arenas it holds against bytes in use in them. An arena
    goes back to the system only when empty, so arenas beyond the bytes in use are the
    high-water mark of a past peak."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode(errors="replace")
    wanted = ("# arenas allocated current", "# bytes in allocated blocks")
    found = {
        name.strip("# ").strip(): value.strip()
        for name, _, value in (line.partition("=") for line in text.splitlines())
        if name.strip().startswith(wanted)
    }
    return "pymalloc: " + ", ".join(f"{k} {v}" for k, v in found.items())


def _type_counts() -> collections.Counter[str]:
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def _ioc(engine: Engine, placed: int, n: int) -> int:
    """`n` IOC limit buys below the market: acknowledged, then expired at once."""
    batch: list[Future[Any]] = [
        engine.submit_spot_order(**limit_buy(placed + i, time_in_force="ioc")) for i in range(n)
    ]
    for future in batch:
        future.result(timeout=60)
    return n


def _mixed(engine: Engine, placed: int, n: int) -> int:
    """Half market buys (filled at once: a trade report and its fill), half resting limit buys,
    each amended (or, one in two, edited: a new order replaces it) the moment it is answered,
    then canceled: every kind of fact an order can bring, so that anything the engine keeps
    per order, per fill, per amend or per unmatched report shows as growth."""
    market = [
        engine.submit_spot_order(order_type="market", side="buy", symbol="BTC/USD",
                                 order_qty=Decimal("0.0001"))
        for _ in range(n // 2)
    ]  # fmt: skip
    resting = [engine.submit_spot_order(**limit_buy(placed + i)) for i in range(n - n // 2)]
    for future in market:
        future.result(timeout=60)
    order_ids = [future.result(timeout=60).result.order_id for future in resting]
    amends = [engine.amend_spot_order(order_id=o, limit_price=Decimal(900)) for o in order_ids[::2]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Kraken prefers amend; both run
        edits = [
            engine.edit_spot_order(order_id=o, symbol="BTC/USD", limit_price=Decimal(900))
            for o in order_ids[1::2]
        ]
    for future in amends:
        future.result(timeout=60)
    order_ids = order_ids[::2] + [future.result(timeout=60).result.order_id for future in edits]
    cancels = [engine.cancel_spot_order(order_id=o) for o in order_ids]
    for future in cancels:
        future.result(timeout=60)
    return n


_WORKLOADS = {"ioc": _ioc, "mixed": _mixed}


def main() -> int:
    points = [int(p) for p in os.environ["KR_BENCH_POINTS"].split(",")]
    place = _WORKLOADS[os.environ.get("KR_BENCH_WORKLOAD", "ioc")]
    detail = os.environ.get("KR_BENCH_MEMORY_DETAIL") == "1"
    database_url = os.environ["KR_BENCH_DATABASE_URL"]
    config = EngineConfig(
        api_key=os.environ["KR_BENCH_KEY"],
        api_secret=os.environ["KR_BENCH_SECRET"],
        ws_url=os.environ["KR_BENCH_WS_URL"],
        rest_url=os.environ["KR_BENCH_REST_URL"],
        database_url=database_url,
        request_timeout=60.0,
        dead_mans_switch_timeout=0,
        attach_default_listeners=False,
        **tier_option(),
    )
    engine = Engine(config).start()
    counts = _type_counts() if detail else collections.Counter[str]()
    try:
        engine.connect(timeout=30)
        start = proc_status()
        print(
            f"START {start['VmRSS']} {start['VmHWM']} {start['RssAnon']} {start['RssFile']}",
            flush=True,
        )
        placed = 0
        for point in points:
            while placed < point:
                placed += place(engine, placed, min(200, point - placed))
            engine.wait_for_events(timeout=60)
            stats = engine.stats()
            status = proc_status()
            held = stats.get("orders_in_memory")  # the order manager's whole book, if it says
            wal = wal_bytes(database_url)
            print(
                f"POINT {point} {status['VmRSS']} {stats['live_orders']} {status['VmHWM']} "
                f"{status['RssAnon']} {status['RssFile']} "
                f"{'-' if held is None else int(held)} {'-' if wal is None else wal}",
                flush=True,
            )
            if detail:
                now = _type_counts()
                grown = sorted(((now[k] - counts[k], k) for k in now), reverse=True)[:10]
                print("DETAIL objects: " + ", ".join(f"{k} {d:+}" for d, k in grown if d > 0))
                print(f"DETAIL {_malloc_line()}")
                print(f"DETAIL {_sqlite_line()}")
                print(f"DETAIL {_pymalloc_line()}", flush=True)
                counts = now
    finally:
        engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
