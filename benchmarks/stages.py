"""Where a closed-loop round trip goes: a timestamp at each hand-over of `submit_spot_order`.

Run: `python -m benchmarks.stages [--orders N] [--pin]`. Not a benchmark row (it instruments the
engine, and each mark costs about a microsecond): a diagnostic behind the stage table of
BENCHMARKS.md. The simulator runs in its own process; one thread submits an order and waits
for its answer, N times. Every mark is `perf_counter()` on entry to (or return from) one of
the engine's own steps, whichever thread runs it:

    submit     Engine.submit_spot_order entered (the caller)
    intake     Intake.submit entered: identity, params and pair rules done (the caller)
    drain      OrderManagerActor._drain entered (the order manager, after a wake-up)
    commit     OrderManagerActor._write_unit_of_work entered: the intent's rows are written,
               its COMMIT is next
    write      ConnectionActor._write entered: committed, handed over, encoded
    written    ConnectionActor._write returned: the frame is in the kernel
    frame      ConnectionActor._frame_from_reader entered, first frame after the send (the
               reader; an executions frame may come before the answer)
    answer     ConnectionActor._answered entered: the answer is read and matched
    resolved   the caller's Future.result() returned

Also printed: each thread's CPU per order over the loop (`/proc/self/task/*/schedstat`),
which says how much of the round trip the engine's process spends computing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import actors.connection as connection
import actors.order_manager as order_manager
import engine.api as api
from benchmarks._common import limit_buy
from benchmarks._engine import start_engine
from benchmarks._sim import simulator

__all__ = ["STAGES", "run"]

STAGES = ("submit", "intake", "drain", "commit", "write", "written", "frame", "answer", "resolved")

# (module's class, method, mark on entry, mark on return)
_PROBES: tuple[tuple[Any, str, str | None, str | None], ...] = (
    (api.Engine, "submit_spot_order", "submit", None),
    (order_manager.Intake, "submit", "intake", None),
    (order_manager.OrderManagerActor, "_drain", "drain", None),
    (order_manager.OrderManagerActor, "_write_unit_of_work", "commit", None),
    (connection.ConnectionActor, "_write", "write", "written"),
    (connection.ConnectionActor, "_frame_from_reader", "frame", None),
    (connection.ConnectionActor, "_answered", "answer", None),
)


@contextmanager
def _probed(marks: list[tuple[str, float]]) -> Iterator[None]:
    """The probes installed on the classes for the duration (list.append is atomic)."""
    saved = []
    for owner, name, before, after in _PROBES:
        original = getattr(owner, name)
        saved.append((owner, name, original))
        setattr(owner, name, _probe(original, marks, before, after))
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _probe(
    original: Callable[..., Any],
    marks: list[tuple[str, float]],
    before: str | None,
    after: str | None,
) -> Callable[..., Any]:
    clock = time.perf_counter

    def probe(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            marks.append((before, clock()))
        try:
            return original(*args, **kwargs)
        finally:
            if after is not None:
                marks.append((after, clock()))

    return probe


def _thread_cpu_ns() -> dict[str, int]:
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, int] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (FileNotFoundError, ValueError):
            continue
        name = names.get(int(tid), f"thread {tid}")
        out[name] = out.get(name, 0) + ns
    return out


def _loops(marks: list[tuple[str, float]]) -> list[dict[str, float]]:
    """One dict per order: the first time each stage was marked after its `submit`."""
    loops: list[dict[str, float]] = []
    for stage, at in marks:
        if stage == "submit":
            loops.append({})
        if loops and stage not in loops[-1]:
            loops[-1][stage] = at
    return loops


def run(orders: int, warmup: int = 100, pin: bool = False) -> dict[str, Any]:
    """{"stages": [(from, to, p50 us, p90 us)], "cpu_us": {thread: us per order}, ...};
    `pin` as the benchmarks' `--pin` (the simulator on one CPU, this process on the others)."""
    marks: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, simulator(pin) as (sim, _):
        key, secret = sim.add_account()
        engine = start_engine(sim, key, secret, Path(tmp) / "stages.db")
        try:
            for i in range(warmup):
                engine.submit_spot_order(**limit_buy(i)).result(timeout=30)
            engine.wait_for_events(timeout=30)
            with _probed(marks):
                cpu_before, wall = _thread_cpu_ns(), time.perf_counter()
                for i in range(orders):
                    engine.submit_spot_order(**limit_buy(warmup + i)).result(timeout=30)
                    marks.append(("resolved", time.perf_counter()))
                wall = time.perf_counter() - wall
                cpu_after = _thread_cpu_ns()
        finally:
            engine.stop()
    loops = _loops(marks)
    rows = []
    for first, then in itertools.pairwise(STAGES):
        gaps = sorted(
            1e6 * (loop[then] - loop[first]) for loop in loops if first in loop and then in loop
        )
        if gaps:
            rows.append((first, then, statistics.median(gaps), gaps[int(0.9 * (len(gaps) - 1))]))
    total = sorted(
        1e6 * (loop["resolved"] - loop["submit"]) for loop in loops if "resolved" in loop
    )
    cpu = {
        name: (cpu_after[name] - cpu_before.get(name, 0)) / 1e3 / orders
        for name in cpu_after
        if cpu_after[name] - cpu_before.get(name, 0) > 0
    }
    return {
        "orders": orders,
        "code": str(Path(order_manager.__file__).resolve().parents[1]),  # whose engine ran
        "stages": rows,
        "round_trip_p50_us": statistics.median(total) if total else float("nan"),
        "wall_us_per_order": 1e6 * wall / orders,
        "cpu_us": dict(sorted(cpu.items(), key=lambda kv: -kv[1])),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--pin", action="store_true", help="as the benchmarks' --pin")
    parser.add_argument("--json", action="store_true", help="the result as JSON (benchmarks.ab)")
    args = parser.parse_args(argv)
    result = run(args.orders, pin=args.pin)
    if args.json:
        print(json.dumps(result))
        return 0
    p50 = result["round_trip_p50_us"]
    print(f"{result['orders']:,} closed-loop orders; round trip p50 {p50:.0f} us")
    print(f"  {'from':>9} -> {'to':<9}  {'p50 us':>7}  {'p90 us':>7}")
    for first, then, p50, p90 in result["stages"]:
        print(f"  {first:>9} -> {then:<9}  {p50:7.1f}  {p90:7.1f}")
    print(f"CPU per order by thread (wall {result['wall_us_per_order']:.0f} us per order):")
    for name, us in result["cpu_us"].items():
        print(f"  {name:<40} {us:7.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
