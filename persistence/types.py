"""Column types that keep money exact and time zone-aware on every dialect.

SQLite has no exact decimal type (its NUMERIC affinity turns `0.1` into a float), so money is stored
there as canonical decimal text; PostgreSQL gets an unbounded `NUMERIC`. Either way Python sees
`Decimal`. Times are stored in UTC and always come back as aware UTC datetimes, so comparing a
value read from SQLite with one read from PostgreSQL never mixes naive and aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Dialect, types
from sqlalchemy.dialects import postgresql

__all__ = ["DecimalText", "UtcDateTime", "canonical_decimal"]


def canonical_decimal(value: Decimal) -> str:
    """One text per value (`1.50` and `1.5` give `1.5`), positional notation, no exponent.

    `str()` already writes a money value of a venue's precision positionally; trimming its
    fraction's trailing zeros gives the text of `normalize()` then `format(, "f")` at a third
    of the cost (it runs for every money cell the engine writes), and unlike `normalize()` it
    never rounds a value of more than 28 digits.
    """
    if not value.is_finite():
        raise ValueError(f"non-finite money value {value}")
    if value.is_zero():
        return "0"
    text = str(value)
    if "E" in text:
        text = format(value, "f")  # exact: normalize() would round to the context's precision
    if "." in text:
        return text.rstrip("0").rstrip(".")
    return text


class DecimalText(types.TypeDecorator[Decimal]):
    """Exact `Decimal`: canonical text on SQLite, `NUMERIC` without precision on PostgreSQL."""

    impl = types.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.NUMERIC(asdecimal=True))
        return dialect.type_descriptor(types.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise TypeError(f"money must be Decimal (or int), got {type(value).__name__}")
        number = Decimal(value)
        if dialect.name == "postgresql":
            if not number.is_finite():
                raise ValueError(f"non-finite money value {number}")
            return number
        return canonical_decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UtcDateTime(types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive datetimes are refused.

    SQLite stores fixed-width `YYYY-MM-DD HH:MM:SS.ffffff` text in UTC, so text order is time order.
    """

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime
