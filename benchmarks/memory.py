"""6. Resident memory of the engine's process after N and after M orders.

A child process runs only the engine (the simulator is a third process) and reads its own
/proc/self/status after each point, once its events are handled. Nothing tidies the process
before a reading (no forced collection, no malloc trim): the figure is what the engine leaves
resident. The floor is the same process after start and connect, before any order.

Besides VmRSS the table shows the peak (VmHWM), the anonymous and file-backed parts (the SQLite
WAL index is a file mapping), the orders the order manager still holds in memory (live plus
recently ended; `-` when its `stats()` does not say) and the size of the WAL on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks._common import Goal, Section, Sizes, ratio
from benchmarks._sim import SimProcess

__all__ = ["parse_child_output", "run"]

_ROOT = Path(__file__).resolve().parent.parent
_MIB = 1024.0

COLUMNS = [
    "after",
    "RSS MiB",
    "/ after start (floor)",
    "peak MiB",
    "anon MiB",
    "file MiB",
    "orders held in memory",
    "live orders",
    "WAL MiB",
]


WORKLOADS = {
    "ioc": "IOC limit buys below the market (acknowledged, then expired at once), 200 in flight",
    "mixed": "half market buys (each filled at once: a trade report and its fill), half resting "
    "limit buys, each amended or (one in two) edited the moment it is answered, then canceled; "
    "100 of each in flight",
}


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    """One child process per workload, each on a fresh database and account; the goal holds
    only if it holds for each (anything kept per fill or per amend shows in `mixed` only)."""
    sections = [_run_child(sim, sizes, workdir, workload) for workload in WORKLOADS]
    section = sections[0]
    for other in sections[1:]:
        section.rows.extend(other.rows)
        section.goals.extend(other.goals)
        section.notes.extend(other.notes)
    return section


def _run_child(sim: SimProcess, sizes: Sizes, workdir: Path, workload: str) -> Section:
    key, secret = sim.add_account()
    env = {
        **os.environ,
        "KR_BENCH_WORKLOAD": workload,
        "KR_BENCH_POINTS": ",".join(str(p) for p in sizes.memory_points),
        "KR_BENCH_KEY": key,
        "KR_BENCH_SECRET": secret,
        "KR_BENCH_WS_URL": sim.ws_url,
        "KR_BENCH_REST_URL": sim.rest_url,
        "KR_BENCH_DATABASE_URL": f"sqlite:///{workdir / f'memory-{workload}.db'}",
    }
    env.pop("KR_BENCH_MEMORY_DETAIL", None)  # a diagnosis aid that perturbs the figures
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
    return parse_child_output(done.stdout, sizes, workload)


def parse_child_output(stdout: str, sizes: Sizes, workload: str = "ioc") -> Section:
    """The section from the child's START / POINT lines (see benchmarks._memory_child); rows
    and goal name the workload unless it is the default one."""
    named = "" if workload == "ioc" else f" ({workload})"
    section = Section("memory", "6. Resident memory of the engine process", list(COLUMNS))
    start = 0
    figures: list[tuple[int, int]] = []  # (orders, VmRSS KiB)
    for line in stdout.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "START":
            values = [int(v) for v in parts[1:]] + [0, 0, 0]
            start, peak, anon, file = values[:4]
            section.rows.append([f"start + connect (floor){named}", start / _MIB, 1.0, peak / _MIB,
                                 anon / _MIB, file / _MIB, 0, 0, "-"])  # fmt: skip
        elif parts[0] == "POINT":
            orders, rss, live, peak, anon, file = (int(v) for v in parts[1:7])
            held = "-" if parts[7] == "-" else int(parts[7])
            wal = "-" if parts[8] == "-" else int(parts[8]) / (1024 * _MIB)
            figures.append((orders, rss))
            section.rows.append([f"{orders:,} orders{named}", rss / _MIB, ratio(rss, start),
                                 peak / _MIB, anon / _MIB, file / _MIB, held, live,
                                 wal])  # fmt: skip
    first, last = sizes.memory_points
    if len(figures) == 2:
        (n, rss_n), (m, rss_m) = figures
        growth = rss_m / rss_n - 1
        per_order = 1024 * (rss_m - rss_n) / (m - n) if m != n else float("nan")
    else:
        growth = per_order = float("nan")
    section.goals.append(Goal(
        f"RSS after {last:,} within 10% of after {first:,} orders{named} "
        f"(got {100 * growth:+.1f}%)",
        abs(growth) <= 0.10))  # fmt: skip
    section.notes.append(f"RSS grew {per_order:,.0f} bytes per order between the two points{named}")
    section.notes.append(f"{workload}: {WORKLOADS[workload]}; read in the engine's own process, "
                         "no forced collection or trim before a reading")  # fmt: skip
    return section
