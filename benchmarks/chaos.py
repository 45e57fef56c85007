"""Chaos in full: the chaos test of issue #7 at benchmark size, and how long it takes.

CI runs `tests/chaos/test_chaos.py` with 300 operations; here the same test runs with
`Sizes.chaos_ops` (2,000 in full) in a pytest subprocess with its own in-process simulator (tier
`unlimited`), and the section reports whether the database still equalled the ground truth.
The SQLite run only: the issue's figures are SQLite's, and CI runs the PostgreSQL one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import Goal, Section, Sizes

ROOT = Path(__file__).resolve().parent.parent
_FACTS = re.compile(r"chaos: orders=(\d+) fills=(\d+)")


def run(sim: object, sizes: Sizes, workdir: Path) -> Section:
    env = {**os.environ, "CHAOS_OPS": str(sizes.chaos_ops)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/chaos/test_chaos.py::test_chaos_database_equals_ground_truth[sqlite]"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    found = _FACTS.search(done.stdout)
    orders, fills = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    section = Section(
        name="chaos",
        title="Chaos: database equals the ground truth after faults",
        columns=["operations", "orders", "fills", "seconds", "ops/s", "result"],
    )
    passed = done.returncode == 0
    section.rows.append(
        [sizes.chaos_ops, orders, fills, round(seconds, 1), round(sizes.chaos_ops / seconds, 1),
         "equal" if passed else "DIFFERENT"]
    )  # fmt: skip
    section.goals.append(
        Goal("zero lost, zero duplicated, zero in a wrong state (exact comparison)", passed)
    )
    section.notes.append(
        "drops every 50-200 frames, swallowed/delayed acks, duplicated executions, "
        "EService:Unavailable, refused token requests; tier unlimited"
    )
    if not passed:
        section.notes.append(done.stdout[-2000:])
    return section
