"""`python -m benchmarks.ab`: each side runs its own tree's engine, and the summary compares
them by medians and shares (no timing asserts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import ab

ROOT = Path(__file__).resolve().parents[2]


def _result(p50: float, **cpu: float) -> ab.Run:
    return {"round_trip_p50_us": p50, "cpu_us": cpu, "code": "/x"}


def test_the_summary_gives_medians_shares_and_ratios_by_thread_role() -> None:
    runs = {
        # session numbers differ from run to run: one role each
        "base": [
            _result(1000, **{"OrderManagerActor-1": 600, "kraken-ws-reader-1": 200}),
            _result(900, **{"OrderManagerActor-1": 500, "kraken-ws-reader-3": 300}),
            _result(1100, **{"OrderManagerActor-1": 700, "kraken-ws-reader-1": 300}),
        ],
        "this": [
            _result(800, **{"OrderManagerActor-1": 450, "kraken-ws-reader-2": 150}),
            _result(850, **{"OrderManagerActor-1": 450, "kraken-ws-reader-1": 150}),
            _result(700, **{"OrderManagerActor-1": 450, "kraken-ws-reader-1": 150}),
        ],
    }

    base, this, ratios = ab.summary(runs, top=2)

    # the median of each column on its own: the shares are 0.25, 0.375 and 0.3 of each run
    assert base == (
        "base: p50 1000 us, CPU 800 us/order, OrderManagerActor 600 us (0.700), "
        "kraken-ws-reader 300 us (0.300)"
    )
    assert this == (
        "this: p50 800 us, CPU 600 us/order, OrderManagerActor 450 us (0.750), "
        "kraken-ws-reader 150 us (0.250)"
    )
    assert ratios.startswith("this / base: p50 0.800, cpu 0.750, OrderManagerActor 0.750")


@pytest.mark.timeout(300)
def test_each_side_runs_its_own_trees_engine() -> None:
    runs = ab.run("HEAD", rounds=1, orders=10, pin=False)

    assert [len(results) for results in runs.values()] == [1, 1]
    assert runs["this"][0]["code"] == str(ROOT)
    assert runs["base"][0]["code"] != str(ROOT)  # the worktree of HEAD, removed since
    assert not Path(runs["base"][0]["code"]).exists()
