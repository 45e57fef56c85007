"""The benchmark harness end to end with tiny sizes: a well-formed report, no timing asserts."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks import BENCHMARKS, run_all
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
