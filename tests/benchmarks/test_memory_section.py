"""Benchmark 6's report from its child's output, and the child's own readings (no timing)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._common import TINY
from benchmarks._memory_child import proc_status, wal_bytes
from benchmarks.memory import COLUMNS, parse_child_output

SIZES = dataclasses.replace(TINY, memory_points=(100, 1100))


def test_rows_goal_and_growth_per_order_come_from_the_child_lines() -> None:
    out = "\n".join(
        [
            "START 10240 10240 8192 2048",
            "POINT 100 20480 3 21504 18432 2048 40 1048576",
            "POINT 1100 21480 0 22528 19456 2048 12 2097152",
        ]
    )

    section = parse_child_output(out, SIZES)

    assert section.columns == COLUMNS
    assert all(len(row) == len(COLUMNS) for row in section.rows)
    floor, first, last = section.rows
    assert floor[0] == "start + connect (floor)" and floor[1] == 10.0
    assert first == ["100 orders", 20.0, 2.0, 21.0, 18.0, 2.0, 40, 3, 1.0]
    assert last[0] == "1,100 orders" and last[6] == 12 and last[8] == 2.0
    (goal,) = section.goals
    assert goal.met and "+4.9%" in goal.text
    assert "1,024 bytes per order" in section.notes[0]


def test_a_growth_over_ten_percent_misses_and_unknown_fields_show_as_dashes() -> None:
    out = "\n".join(
        [
            "START 1000 1000 800 200",
            "POINT 100 2000 0 2000 1800 200 - -",
            "POINT 1100 2300 0 2300 2100 200 - -",
        ]
    )

    section = parse_child_output(out, SIZES)

    assert not section.goals[0].met and "+15.0%" in section.goals[0].text
    assert section.rows[1][6] == "-" and section.rows[1][8] == "-"


def test_a_missing_point_is_a_missed_goal_not_a_crash() -> None:
    section = parse_child_output("START 1000 1000 800 200\n", SIZES)

    assert not section.goals[0].met
    assert len(section.rows) == 1


def test_the_child_reads_its_own_status_and_the_wal_size(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc")
    status = proc_status()
    assert status["VmRSS"] > 0 and status["VmHWM"] >= status["VmRSS"]
    assert status["RssAnon"] + status["RssFile"] <= status["VmRSS"] + 1024  # shmem aside
    db = tmp_path / "m.db"
    assert wal_bytes(f"sqlite:///{db}") == 0
    (tmp_path / "m.db-wal").write_bytes(b"x" * 10)
    assert wal_bytes(f"sqlite:///{db}") == 10
    assert wal_bytes("postgresql+psycopg://host/db") is None


def test_another_workloads_rows_goal_and_notes_name_it() -> None:
    out = "\n".join(
        [
            "START 1000 1000 800 200",
            "POINT 100 2000 0 2000 1800 200 1000 -",
            "POINT 1100 2300 0 2300 2100 200 1000 -",
        ]
    )

    section = parse_child_output(out, SIZES, "mixed")

    assert [row[0] for row in section.rows] == [
        "start + connect (floor) (mixed)",
        "100 orders (mixed)",
        "1,100 orders (mixed)",
    ]
    assert "orders (mixed) (got +15.0%)" in section.goals[0].text
    assert section.notes[1].startswith("mixed: half market buys")
