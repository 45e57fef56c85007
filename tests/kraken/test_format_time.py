"""Kraken's RFC3339 text for a time: `Z`, and seconds, milliseconds or microseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.kraken.envelope import format_time


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_each_precision_is_the_utc_time_cut_to_it(value: datetime) -> None:
    base = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value:%H:%M:%S}"
    assert format_time(value, "s") == base + "Z"
    assert format_time(value, "ms") == f"{base}.{value.microsecond // 1000:03d}Z"
    assert format_time(value) == format_time(value, "us") == f"{base}.{value.microsecond:06d}Z"


@pytest.mark.parametrize(
    ("value", "precision", "text"),
    [
        (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "ms", "2024-05-01T12:00:00.000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 999999, tzinfo=UTC), "ms", "2024-05-01T12:00:00.999Z"),
        (datetime(2024, 5, 1, 14, 0, 1, 5, tzinfo=timezone(timedelta(hours=2))), "us",
         "2024-05-01T12:00:01.000005Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "s", "0999-01-02T03:04:05Z"),
    ],
)  # fmt: skip
def test_examples(value: datetime, precision: str, text: str) -> None:
    assert format_time(value, precision) == text
