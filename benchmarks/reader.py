"""Issue #4's concurrency promise as a figure: the engine persists orders at a steady rate
while another process runs history queries in a loop. No lock error, and no write transaction
of the engine's over 50 ms.

The writer paces `submit_spot_order` against the clock (not a closed loop, which would slow
down politely when the engine does); the reader is a separate interpreter using the public
`History` API on the same SQLite file, as `kraken-router orders` would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from benchmarks._affinity import children_on
from benchmarks._common import Goal, Section, Sizes, limit_buy, percentile
from benchmarks._engine import start_engine
from benchmarks._sim import SimProcess

__all__ = ["run"]

_READER = """
import json, sys, time
from persistence.history import History
url, seconds = sys.argv[1], float(sys.argv[2])
history = History(url)
deadline = time.monotonic() + seconds
took, errors = [], []
while time.monotonic() < deadline:
    for query in (lambda: history.orders(status="open", limit=100),
                  lambda: history.orders(symbol="BTC/USD", limit=100),
                  lambda: history.fills(limit=100)):
        started = time.perf_counter()
        try:
            query()
        except Exception as exc:
            errors.append(repr(exc))
        took.append(time.perf_counter() - started)
print(json.dumps({"took": took, "errors": errors[:20], "error_count": len(errors)}))
"""

STALL_MS = 50.0


class _AckTimer:
    """A done-callback that records how long the future took from its creation."""

    def __init__(self, into: list[float]) -> None:
        self._into = into
        self._started = time.perf_counter()

    def __call__(self, _future: Future[Any]) -> None:
        self._into.append(time.perf_counter() - self._started)


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "reader",
        f"4b. Writes while another process reads: {sizes.reader_rate} orders/s for "
        f"{sizes.reader_seconds:g} s",
        ["who", "done", "per s", "p50 ms", "p99 ms", "max ms", "over 50 ms", "errors"],
    )
    key, secret = sim.add_account()
    database = workdir / "reader.db"
    url = f"sqlite:///{database}"
    engine = start_engine(sim, key, secret, database)
    acks: list[float] = []
    futures: list[Future[Any]] = []
    stop = threading.Event()

    def writer() -> None:
        started = time.monotonic()
        i = 0
        while not stop.is_set():
            timer = _AckTimer(acks)
            future = engine.submit_spot_order(**limit_buy(i))
            future.add_done_callback(timer)
            futures.append(future)
            i += 1
            stop.wait(max(0.0, started + i / sizes.reader_rate - time.monotonic()))

    try:
        root = Path(__file__).resolve().parent.parent
        # pinned (`--pin`): the reader stays off the engine's cores, as another process of an
        # operator's would, and shares the simulator's
        with children_on(sim.cpus):
            reader = subprocess.Popen(
                [sys.executable, "-c", _READER, url, str(sizes.reader_seconds)],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        thread = threading.Thread(target=writer, name="bench-reader-writer")
        cpu_before = time.process_time()
        began = time.monotonic()
        thread.start()
        out, err = reader.communicate(timeout=sizes.reader_seconds + 120)
        stop.set()
        thread.join(timeout=30)
        wrote_for = time.monotonic() - began
        for future in futures:
            future.result(timeout=60)
        engine.wait_for_events(timeout=60)
        cpu = time.process_time() - cpu_before
        stats = engine.stats()
    finally:
        engine.stop()
    if reader.returncode != 0:
        raise RuntimeError(f"the reader process failed: {err.strip()[-2000:]}")
    read = json.loads(out)
    took_ms = [t * 1000 for t in read["took"]] or [0.0]
    ack_ms = [t * 1000 for t in acks] or [0.0]
    commits = stats["commits"]
    section.rows.append(["engine: write transactions", commits, round(commits / wrote_for, 1),
                         None, stats["p99_commit_ms"], stats["max_commit_ms"],
                         stats["commits_over_50ms"], 0])  # fmt: skip
    section.rows.append(["engine: submit -> ack", len(ack_ms), round(len(ack_ms) / wrote_for, 1),
                         percentile(ack_ms, 50), percentile(ack_ms, 99), max(ack_ms),
                         sum(1 for t in ack_ms if t > STALL_MS), 0])  # fmt: skip
    section.rows.append(["reader process: history queries", len(took_ms),
                         round(len(took_ms) / sizes.reader_seconds, 1), percentile(took_ms, 50),
                         percentile(took_ms, 99), max(took_ms), None,
                         read["error_count"]])  # fmt: skip
    achieved = len(futures) / wrote_for
    section.goals.append(Goal(f"no lock errors in the reader (got {read['error_count']})",
                              read["error_count"] == 0))  # fmt: skip
    section.goals.append(Goal(f"no engine write transaction over {STALL_MS:.0f} ms (got "
                              f"{stats['commits_over_50ms']}, longest "
                              f"{stats['max_commit_ms']:.1f} ms)",
                              stats["commits_over_50ms"] == 0))  # fmt: skip
    section.goals.append(Goal(f"the engine kept the pace: >= 95% of {sizes.reader_rate}/s "
                              f"(got {achieved:.0f}/s)",
                              achieved >= 0.95 * sizes.reader_rate))  # fmt: skip
    section.notes.append("the writer paces submit_spot_order against the clock on one thread "
                         "(futures not awaited in between); 'done' for the engine counts "
                         "write transactions (grouped commits), mean "
                         f"{stats['mean_commit_ms']:.2f} ms")  # fmt: skip
    per_order = 1000 * cpu / len(futures)
    section.notes.append(f"CPU of the engine's process (all its threads): {per_order:.2f} ms "
                         f"per order, {cpu / wrote_for:.2f} cores on average")  # fmt: skip
    if read["errors"]:
        section.notes.append(f"reader errors (first): {read['errors'][:3]}")
    return section
