"""Run the benchmarks against one simulator process and collect one report."""

from __future__ import annotations

import importlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks._common import PRESETS, TIER, Report, Section, Sizes, machine
from benchmarks._sim import simulator

__all__ = ["BENCHMARKS", "run_all"]

# name -> module with `run(sim, sizes, workdir) -> Section`, in the order they run
BENCHMARKS: dict[str, str] = {
    "roundtrip": "benchmarks.roundtrip",
    "throughput": "benchmarks.throughput",
    "executions": "benchmarks.executions",
    "recovery": "benchmarks.recovery",
    "reader": "benchmarks.reader",
    "queries": "benchmarks.queries",
    "memory": "benchmarks.memory",
    "chaos": "benchmarks.chaos",
}


def run_all(
    sizes: Sizes | str,
    only: Sequence[str] = (),
    *,
    workdir: Path | None = None,
    echo: Callable[[str], None] | None = print,
    pin: bool = False,
) -> Report:
    """Run the chosen benchmarks (all by default) and return the report.

    `pin`: the simulator on the last CPU this process may use, this process (the engine, the
    floors, the python-kraken-sdk client) and its child processes on the others, for the whole
    run, except the 4b reader process, which shares the simulator's CPU; refused with fewer than
    two CPUs, since it would then measure nothing different.
    """
    chosen = PRESETS[sizes] if isinstance(sizes, str) else sizes
    names = list(only) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    # engine log lines would only add noise to the figures
    logging.getLogger("kraken_router").setLevel(logging.ERROR)
    report = Report(sizes=chosen.name, tier=TIER, machine=machine())
    with (
        tempfile.TemporaryDirectory(prefix="kr-bench-", dir=workdir) as tmp,
        simulator(pin) as (sim, placement),
    ):
        report.pinning = placement
        if echo is not None:
            echo(report.text())
        for name in names:
            module = importlib.import_module(BENCHMARKS[name])
            started = time.perf_counter()
            section: Section = module.run(sim, chosen, Path(tmp))
            section.seconds = time.perf_counter() - started
            report.sections.append(section)
            if echo is not None:
                echo("\n" + section.text())
    return report


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
