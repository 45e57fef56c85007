"""The round trip's stage probe still finds every step it times (no timing asserts): a
renamed step would otherwise leave BENCHMARKS.md's stage table without a way to redo it."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.order_manager import Intake
from benchmarks import stages


def test_every_stage_of_a_round_trip_is_marked_in_order() -> None:
    result = stages.run(orders=20, warmup=5)
    assert [(first, then) for first, then, _, _ in result["stages"]] == list(
        itertools.pairwise(stages.STAGES)
    )
    assert all(p50 >= 0 for _, _, p50, _ in result["stages"])
    assert result["cpu_us"], "the threads' CPU was read"
    assert "probe" not in Intake.submit.__qualname__, "the probes are taken off afterwards"
