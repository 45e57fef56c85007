"""Shared pieces: sizes, percentiles, the report's shape and its text form, the machine."""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "FULL",
    "QUICK",
    "TINY",
    "Goal",
    "Report",
    "Section",
    "Sizes",
    "limit_buy",
    "machine",
    "percentile",
    "summary_ms",
]

TIER = "unlimited"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each benchmark is; `--quick` and the smoke test shrink these."""

    name: str
    round_trips: int  # per client, after warm-up
    warmup: int
    throughput_orders: int  # per (threads, synchronous) row
    thread_counts: tuple[int, ...]
    execution_updates: int
    execution_orders: int  # orders the fills are spread over
    recovery_histories: tuple[int, ...]
    recovery_repeats: int
    query_orders: int
    query_repeats: int
    memory_points: tuple[int, int]
    chaos_ops: int = 300
    reader_rate: int = 500  # orders/s written while another process queries (issue #4)
    reader_seconds: float = 10.0
    # runs of the rows that decide the rate goals (throughput's two pipelined rows, executions),
    # the median reported: on this shared machine one run's rate moved 10-25% from the next
    goal_runs: int = 3


FULL = Sizes(
    name="full",
    round_trips=2000,
    warmup=200,
    throughput_orders=20_000,
    thread_counts=(1, 4, 16),
    execution_updates=100_000,
    execution_orders=500,
    recovery_histories=(100, 100_000),
    recovery_repeats=30,
    query_orders=1_000_000,
    query_repeats=200,
    memory_points=(10_000, 200_000),
    chaos_ops=2_000,
)
QUICK = Sizes(
    name="quick",
    round_trips=200,
    warmup=50,
    throughput_orders=1_000,
    thread_counts=(1, 4, 16),
    execution_updates=5_000,
    execution_orders=200,
    recovery_histories=(100, 20_000),
    recovery_repeats=10,
    query_orders=100_000,
    query_repeats=100,
    memory_points=(2_000, 20_000),
    chaos_ops=300,
)
TINY = Sizes(
    name="tiny",
    round_trips=20,
    warmup=5,
    throughput_orders=100,
    thread_counts=(1, 4),
    execution_updates=200,
    execution_orders=10,
    recovery_histories=(10, 200),
    recovery_repeats=2,
    query_orders=2_000,
    query_repeats=5,
    memory_points=(50, 200),
    chaos_ops=100,
    reader_rate=50,
    reader_seconds=1.0,
    goal_runs=1,
)
PRESETS = {s.name: s for s in (FULL, QUICK, TINY)}

_Run = TypeVar("_Run", bound=tuple[Any, ...])


def median_run(runs: Sequence[_Run]) -> _Run:
    """The middle one of `goal_runs` runs, ordered by their first figure (the rate): a whole
    run, so that the figures reported beside its rate were measured with it."""
    return sorted(runs)[len(runs) // 2]


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100), nearest-rank on the sorted samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples_s: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of samples in seconds, in milliseconds."""
    return 1000 * percentile(samples_s, 50), 1000 * percentile(samples_s, 99)


def ratio(value: float, floor: float) -> float:
    return value / floor if floor > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class Goal:
    """A speed goal and whether this run met it (goals live here, never in tests)."""

    text: str
    met: bool

    def line(self) -> str:
        return f"  [{'met' if self.met else 'MISSED'}] {self.text}"


@dataclass(slots=True)
class Section:
    """One benchmark's results: a table, goals, and notes on what was measured."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def text(self) -> str:
        cells = [[_cell(v) for v in row] for row in self.rows]
        widths = [
            max([len(c)] + [len(r[i]) for r in cells if i < len(r)])
            for i, c in enumerate(self.columns)
        ]
        lines = [f"## {self.title}  ({self.seconds:.1f} s)"]
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=False))
        )
        for row in cells:
            first, *rest = zip(row, widths, strict=False)
            lines.append(
                "  " + "  ".join([first[0].ljust(first[1])] + [v.rjust(w) for v, w in rest])
            )
        lines.extend(g.line() for g in self.goals)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "---|" * len(self.columns))
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
        lines.append("")
        lines.extend(f"- {'met' if g.met else '**missed**'}: {g.text}" for g in self.goals)
        lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass(slots=True)
class Report:
    sizes: str
    tier: str
    machine: dict[str, str]
    sections: list[Section] = field(default_factory=list)
    pinning: str = ""  # `--pin`: which CPUs the engine's process and the simulator ran on

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        head = (
            f"kraken-router benchmarks ({self.sizes} sizes), simulator tier {self.tier!r} "
            f"in its own process\nmachine: {_machine_line(self.machine)}"
        )
        if self.pinning:
            head += f"\npinned: {self.pinning}"
        return "\n\n".join([head, *(s.text() for s in self.sections)])

    def markdown(self) -> str:
        head = (
            f"Sizes `{self.sizes}`, simulator tier `{self.tier}` (own process). "
            f"Machine: {_machine_line(self.machine)}."
        )
        if self.pinning:
            head += f" Pinned: {self.pinning}."
        return "\n\n".join([head, *(s.markdown() for s in self.sections)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _machine_line(m: dict[str, str]) -> str:
    return f"{m['nproc']} CPUs (nproc), {m['cpu']}, Python {m['python']}, {m['os']}"


def machine() -> dict[str, str]:
    """nproc, CPU model (from /proc/cpuinfo), Python version, OS."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    affinity = getattr(os, "sched_getaffinity", None)
    nproc = len(affinity(0)) if affinity is not None else os.cpu_count() or 0
    return {
        "nproc": str(nproc),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()}",
    }


def limit_buy(i: int, **extra: Any) -> dict[str, Any]:
    """A resting limit buy far below the simulator's reference price (never fills by itself)."""
    from decimal import Decimal

    fields: dict[str, Any] = {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.01"),
        "limit_price": Decimal(1000 + i % 1000),
    }
    fields.update(extra)
    return fields


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")
