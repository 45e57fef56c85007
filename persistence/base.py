"""The declarative base shared by every table.

The naming convention gives every constraint and index a deterministic name, which batch
migrations on SQLite need (they rebuild tables and must find constraints by name) and which keeps
`alembic check` free of spurious drift between dialects.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from persistence.types import DecimalText, UtcDateTime

__all__ = ["NAMING_CONVENTION", "Base"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every model; `Decimal` and `datetime` annotations map to the exact, UTC-aware types."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {Decimal: DecimalText(), datetime: UtcDateTime()}
