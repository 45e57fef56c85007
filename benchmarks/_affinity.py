"""CPU pinning for `--pin`: the simulator on one core, this process (engine, floors) on the rest.

Left to the scheduler, the engine's threads share cores (and their caches) with the simulator,
which stands in for an exchange that runs on other machines. Measured (BENCHMARKS.md), the gain
needs both halves: nothing else on the engine's core, and the engine on no other. Pinning is what
a deployment of an execution layer does anyway (`taskset`, `isolcpus`); the option shows what it
buys here, with the floors pinned exactly like the engine. Linux only (`os.sched_setaffinity`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Split", "children_on", "pinned", "split_cpus", "split_for", "threads_of_this_process"]

Split = tuple[frozenset[int], frozenset[int]]  # (this process, the simulator)


def split_cpus() -> Split | None:
    """The CPUs this process may use, split: the last for the simulator, the others for this
    process; None with fewer than two (or without `sched_getaffinity`)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None:
        return None
    cpus = sorted(getaffinity(0))
    if len(cpus) < 2:
        return None
    return frozenset(cpus[:-1]), frozenset(cpus[-1:])


def split_for(pin: bool) -> Split | None:
    """`split_cpus()` when `pin` (refused with fewer than two CPUs: a pinned run would then
    measure nothing different), else None."""
    if not pin:
        return None
    split = split_cpus()
    if split is None:
        raise ValueError("--pin needs at least two CPUs that this process may use")
    return split


def threads_of_this_process() -> list[int]:
    """Native ids of this process's threads (affinity is per thread on Linux)."""
    try:
        return [int(name) for name in os.listdir(Path("/proc/self/task"))]
    except OSError:
        return [0]


@contextmanager
def pinned(cpus: frozenset[int] | None) -> Iterator[None]:
    """Every thread of this process on `cpus` for the block (threads started inside inherit it,
    and so do child processes); each thread's own affinity is put back after. None: nothing."""
    if not cpus:
        yield
        return
    before: dict[int, set[int]] = {}
    for tid in threads_of_this_process():
        try:
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread ended meanwhile
            continue
    try:
        yield
    finally:
        for tid, cpus_before in before.items():
            try:
                os.sched_setaffinity(tid, cpus_before)
            except OSError:
                continue


@contextmanager
def children_on(cpus: frozenset[int] | None) -> Iterator[None]:
    """Processes started in the block run on `cpus` (None: as they would anyway).

    Only the calling thread's affinity changes, and a child inherits the affinity of the thread
    that forks it: no thread of the child ever runs elsewhere, the other threads of this process
    stay where they are, and no `preexec_fn` is needed (unsafe beside other threads).
    """
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
