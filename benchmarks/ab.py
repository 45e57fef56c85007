"""This tree against another revision, closed loop, in interleaved rounds (a diagnostic).

Run: `python -m benchmarks.ab [--base REV] [--rounds N] [--orders N] [--pin]` (REV defaults to
HEAD, so that uncommitted work is measured against what it changes).

On this machine a run's times move 10-30% from one minute to the next, so a change is judged
only against its base measured in the same minutes. Each round runs `benchmarks.stages` once on
the code of a worktree of REV and once on this tree's, taking turns which goes first. Both
sides are measured by this tree's `benchmarks` (a copy of it comes first on their PYTHONPATH),
so the instrument is the same; REV needs the methods that `benchmarks.stages` probes. Besides the
round trip and each thread's CPU per order, it prints each thread's share of the engine's CPU:
a change to one thread's work shows in its share even when the times of the whole run drift by
more than the change (the lone-frame read of 2026-12-04: the reader's share fell from
0.198-0.211 to 0.184-0.196 while the round trips of the same pairs crossed each other).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Run", "main", "run", "summary"]

ROOT = Path(__file__).resolve().parent.parent

Run = dict[str, Any]  # one `benchmarks.stages` result, as its --json prints it


@contextlib.contextmanager
def _worktree(rev: str) -> Iterator[Path]:
    """A detached worktree of `rev`, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="kraken-router-ab-") as tmp:
        path = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), rev],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
            )


@contextlib.contextmanager
def _harness() -> Iterator[Path]:
    """A directory holding a copy of this tree's `benchmarks` package, and nothing else."""
    with tempfile.TemporaryDirectory(prefix="kraken-router-ab-harness-") as tmp:
        shutil.copytree(
            ROOT / "benchmarks",
            Path(tmp) / "benchmarks",
            ignore=shutil.ignore_patterns("__pycache__", "*.md"),
        )
        yield Path(tmp)


def _stages(harness: Path, tree: Path, orders: int, pin: bool) -> Run:
    """`benchmarks.stages` on `tree`'s code (engine, actors, persistence and the simulator's
    scripts; not the installed ones), measured by the harness's copy of `benchmarks`."""
    command = [sys.executable, "-m", "benchmarks.stages", "--orders", str(orders), "--json"]
    done = subprocess.run(
        [*command, "--pin"] if pin else command,
        cwd=harness,  # `-m` puts the working directory first on sys.path
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(harness), str(tree)))},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.stages failed in {tree}:\n{done.stderr[-2000:]}")
    result: Run = json.loads(done.stdout)
    if Path(result["code"]) != tree.resolve():
        raise RuntimeError(f"measured the engine in {result['code']}, not the one in {tree}")
    return result


def _threads(result: Run) -> dict[str, float]:
    """CPU us per order by thread, the session number taken off its name (the reader of
    session 1 and of session 3 are one thread's role)."""
    out: dict[str, float] = {}
    for name, us in result["cpu_us"].items():
        role = re.sub(r"-\d+$", "", name)
        out[role] = out.get(role, 0.0) + us
    return out


def summary(runs: dict[str, list[Run]], top: int = 3) -> list[str]:
    """Lines: each side's medians (round trip, CPU per order in all, the busiest threads' CPU
    and their shares of it), then this tree's against the base."""
    first = _threads(runs["base"][0])
    busiest = sorted(first, key=lambda name: -first[name])[:top]
    medians: dict[str, dict[str, float]] = {}
    for side, results in runs.items():
        threads = [_threads(r) for r in results]
        row = {
            "p50": statistics.median(r["round_trip_p50_us"] for r in results),
            "cpu": statistics.median(sum(t.values()) for t in threads),
        }
        for name in busiest:
            row[name] = statistics.median(t.get(name, 0.0) for t in threads)
            row[f"{name} share"] = statistics.median(
                t.get(name, 0.0) / sum(t.values()) for t in threads
            )
        medians[side] = row
    lines = []
    for side, row in medians.items():
        parts = [f"p50 {row['p50']:.0f} us", f"CPU {row['cpu']:.0f} us/order"]
        parts += [f"{name} {row[name]:.0f} us ({row[name + ' share']:.3f})" for name in busiest]
        lines.append(f"{side:>4}: " + ", ".join(parts))
    base, this = medians["base"], medians["this"]
    lines.append(
        "this / base: "
        + ", ".join(
            f"{key} {this[key] / base[key]:.3f}" for key in base if base[key] and key in this
        )
    )
    return lines


def run(base: str, rounds: int, orders: int, pin: bool) -> dict[str, list[Run]]:
    """{"base": [...], "this": [...]}: one `benchmarks.stages` result a round each."""
    runs: dict[str, list[Run]] = {"base": [], "this": []}
    with _worktree(base) as base_tree, _harness() as harness:
        for index in range(rounds):
            sides = [("base", base_tree), ("this", ROOT)]
            for side, tree in sides if index % 2 == 0 else sides[::-1]:
                result = _stages(harness, tree, orders, pin)
                runs[side].append(result)
                threads = _threads(result)
                print(
                    f"round {index + 1} {side:>4}: p50 {result['round_trip_p50_us']:.0f} us, "
                    f"CPU {sum(threads.values()):.0f} us/order",
                    flush=True,
                )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", default="HEAD", help="the revision to compare with (HEAD)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--pin", action="store_true", help="as the benchmarks' --pin")
    args = parser.parse_args(argv)
    runs = run(args.base, args.rounds, args.orders, args.pin)
    print("\n".join(summary(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
