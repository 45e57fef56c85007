"""The benchmark harness end to end with tiny sizes: a well-formed report, no timing asserts."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import BENCHMARKS, run_all
from benchmarks._common import TINY
from benchmarks.runner import write_json


def test_tiny_run_produces_a_well_formed_report(tmp_path: Path) -> None:
    report = run_all("tiny", workdir=tmp_path, echo=None)

    assert report.tier == "unlimited" and report.sizes == "tiny"
    assert set(report.machine) >= {"nproc", "cpu", "python"}
    assert [s.name for s in report.sections] == list(BENCHMARKS)
    for section in report.sections:
        assert section.rows and section.goals, section.name
        for row in section.rows:
            assert len(row) == len(section.columns), (section.name, row)
            numbers = [v for v in row if isinstance(v, float)]
            assert all(not math.isinf(v) for v in numbers), (section.name, row)
    roundtrip = report.sections[0]
    assert next(row[0] for row in roundtrip.rows).endswith("(floor)")
    assert all(row[1] > 0 and row[2] > 0 for row in roundtrip.rows)

    text, markdown = report.text(), report.markdown()
    assert "unlimited" in text and "### 1." in markdown
    write_json(report, tmp_path / "report.json")
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["sections"][0]["columns"] == roundtrip.columns


def test_rate_goals_are_decided_by_the_median_of_their_runs(tmp_path: Path) -> None:
    sizes = dataclasses.replace(TINY, goal_runs=3)
    report = run_all(sizes, ["throughput", "executions"], workdir=tmp_path, echo=None)
    throughput, executions = report.sections

    pipelined = [row for row in throughput.rows if "in flight" in str(row[2])]
    repeated = [row for row in pipelined if row[0] == "NORMAL"]
    assert len(repeated) == 2 and all("median of 3" in row[2] for row in repeated)
    assert all("median" not in row[2] for row in pipelined if row[0] == "FULL")
    for row in repeated:
        [runs] = [note for note in throughput.notes if note.startswith(f"NORMAL {row[2]}:")]
        rates = sorted(float(r.replace(",", "")) for r in _rates(runs))
        assert len(rates) == 3 and f"{row[3]:,.0f}" == f"{rates[1]:,.0f}"

    [applied] = [row for row in executions.rows if row[0].startswith("order manager")]
    assert applied[0].endswith("median of 3")
    [runs] = [note for note in executions.notes if note.startswith("apply + persist:")]
    rates = sorted(float(r.replace(",", "")) for r in _rates(runs))
    assert len(rates) == 3 and f"{applied[2]:,.0f}" == f"{rates[1]:,.0f}"
    assert f"got {applied[2]:,.0f}" in executions.goals[0].text


def _rates(note: str) -> list[str]:
    """The figures of a note like 'label: 4,007, 3,656, 3,307 orders/s, in run order'."""
    parts = note.split(": ", 1)[1].split(", ")  # the figures have thousands separators too
    return [part.split(" ")[0] for part in parts if part[:1].isdigit()]
