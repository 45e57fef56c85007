"""6. Resident memory of the engine's process after N and after M orders.

A child process runs only the engine (the simulator is a third process) and reads its own
VmRSS from /proc/self/status after each point, once its events are handled and after a
`gc.collect()`. The floor is the same process after start and connect, before any order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks._common import Goal, Section, Sizes, ratio
from benchmarks._sim import SimProcess

__all__ = ["run"]

_ROOT = Path(__file__).resolve().parent.parent


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "memory",
        "6. Resident memory of the engine process",
        ["after", "RSS MiB", "live orders in memory", "/ after start (floor)"],
    )
    key, secret = sim.add_account()
    env = {
        **os.environ,
        "KR_BENCH_POINTS": ",".join(str(p) for p in sizes.memory_points),
        "KR_BENCH_KEY": key,
        "KR_BENCH_SECRET": secret,
        "KR_BENCH_WS_URL": sim.ws_url,
        "KR_BENCH_REST_URL": sim.rest_url,
        "KR_BENCH_DATABASE_URL": f"sqlite:///{workdir / 'memory.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._memory_child"],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise RuntimeError("memory child failed: " + " | ".join(tail))
    start = 0
    figures: list[int] = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "START":
            start = int(parts[1])
            section.rows.append(["start + connect (floor)", start / 1024, 0, 1.0])
        elif parts and parts[0] == "POINT":
            kib = int(parts[2])
            figures.append(kib)
            section.rows.append([f"{int(parts[1]):,} orders", kib / 1024, int(parts[3]),
                                 ratio(kib, start)])  # fmt: skip
    growth = figures[-1] / figures[0] - 1 if len(figures) == 2 else float("nan")
    section.goals.append(Goal(
        f"RSS after {sizes.memory_points[1]:,} within 10% of after {sizes.memory_points[0]:,} "
        f"orders (got {100 * growth:+.1f}%)", abs(growth) <= 0.10))  # fmt: skip
    section.notes.append("IOC limit buys below the market (acknowledged, then expired at once), "
                         "200 in flight; RSS read in the engine's own process")  # fmt: skip
    return section
