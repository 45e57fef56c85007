"""Operator control requests: how a `kraken-router shutdown` on any machine reaches an engine.

The engine and the operator share nothing but the database, so a request is a row: the script
inserts it (`requested`), the engine that owns the account claims it (`accepted`, with its run
id), appends each step of the safe shutdown to `steps` as it is verified, and closes it (`done`
or `failed` with `error`). When no engine is alive, the script writes the same row itself, so
every shutdown leaves one audit record whichever way it went.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from persistence.base import Base

__all__ = ["CONTROL_KINDS", "CONTROL_STATES", "ControlRequestRow"]

CONTROL_KINDS = ("shutdown",)
CONTROL_STATES = ("requested", "accepted", "done", "failed")


def _one_of(column: str, words: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(w) for w in words)})"


class ControlRequestRow(Base):
    """One operator request to an account's engine; `steps` is a JSON list of step records."""

    __tablename__ = "control_requests"
    __table_args__ = (
        CheckConstraint(_one_of("kind", CONTROL_KINDS), name="kind"),
        CheckConstraint(_one_of("state", CONTROL_STATES), name="state"),
        Index("ix_control_requests_account_state", "account", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("engine_runs.id"))
    kind: Mapped[str] = mapped_column(String(16))
    options: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    requested_by: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    steps: Mapped[str] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
