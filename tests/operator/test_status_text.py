"""How `kraken-router status` words the dead man's switch (pure: the clock is given)."""

from __future__ import annotations

from datetime import UTC, datetime

from scripts.status import _switch_text

NOW = datetime(2026, 12, 4, 20, 0, 0, tzinfo=UTC)


def test_a_switch_still_to_fire_says_in_how_long() -> None:
    text = _switch_text("2026-12-04T20:01:00+00:00", NOW)
    assert text == "2026-12-04T20:01:00+00:00 (fires in 60 s unless re-armed)"


def test_a_switch_whose_time_passed_says_it_fired() -> None:
    text = _switch_text("2026-12-04T19:58:00+00:00", NOW)
    assert text == "2026-12-04T19:58:00+00:00 (passed 120 s ago: fired unless re-armed elsewhere)"


def test_no_switch() -> None:
    assert _switch_text(None, NOW) == "not armed"
