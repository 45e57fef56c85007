"""`--pin`: the simulator's threads on its own CPU, this process's put back when the run ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import run_all
from benchmarks._affinity import pinned, split_cpus, threads_of_this_process
from benchmarks._sim import SimProcess

SPLIT = split_cpus()
needs_two_cpus = pytest.mark.skipif(SPLIT is None, reason="pinning needs two CPUs")


def _affinities() -> dict[int, set[int]]:
    return {tid: os.sched_getaffinity(tid) for tid in threads_of_this_process()}


def _restored(before: dict[int, set[int]]) -> bool:
    """The threads that were there before have their affinity back (a daemon thread that a run
    started may still be ending, pinned: it is not one of ours)."""
    now = _affinities()
    return all(now[tid] == cpus for tid, cpus in before.items() if tid in now)


@needs_two_cpus
def test_the_simulator_runs_only_on_its_cpu_and_this_process_is_left_as_it_was() -> None:
    assert SPLIT is not None
    before = _affinities()
    with SimProcess(cpus=SPLIT[1]) as sim:
        tasks = Path(f"/proc/{sim.pid}/task")
        simulator_threads = [int(t) for t in os.listdir(tasks)]
        assert len(simulator_threads) > 1  # serving: its server threads were started
        assert {frozenset(os.sched_getaffinity(t)) for t in simulator_threads} == {SPLIT[1]}
        assert _affinities() == before


@needs_two_cpus
def test_pinned_applies_to_every_thread_and_is_undone() -> None:
    assert SPLIT is not None
    before = _affinities()
    with pinned(SPLIT[0]):
        assert {frozenset(os.sched_getaffinity(t)) for t in threads_of_this_process()} == {SPLIT[0]}
    assert _affinities() == before
    with pinned(None):
        assert _affinities() == before


@needs_two_cpus
def test_a_pinned_run_says_where_it_ran(tmp_path: Path) -> None:
    assert SPLIT is not None
    before = _affinities()
    report = run_all("tiny", ["roundtrip"], workdir=tmp_path, echo=None, pin=True)
    assert report.pinning.startswith("engine on CPU ")
    assert f"simulator on CPU {max(SPLIT[1])}" in report.pinning
    assert "pinned: engine on CPU" in report.text()
    assert report.sections[0].rows
    assert _restored(before)


def test_pinning_without_two_cpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    with pytest.raises(ValueError, match="at least two CPUs"):
        run_all("tiny", ["roundtrip"], echo=None, pin=True)


@needs_two_cpus
def test_the_stage_probe_can_run_pinned() -> None:
    from benchmarks import stages

    before = _affinities()
    result = stages.run(orders=10, warmup=2, pin=True)
    assert len(result["stages"]) == len(stages.STAGES) - 1
    assert _restored(before)
