"""Operator control requests: how a `kraken-router shutdown` on any machine reaches an engine.

The engine and the operator share nothing but the database, so a request is a row: the script
inserts it (`requested`), the engine that owns the account claims it (`accepted`, with its run
id), appends each step of the safe shutdown to `steps` as it is verified, and closes it (`done`
or `failed` with `error`). When no engine is alive, the script writes the same row itself, so
every shutdown leaves one audit record whichever way it went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from persistence.base import Base

__all__ = [
    "CONTROL_KINDS",
    "CONTROL_STATES",
    "ControlRequest",
    "ControlRequestRow",
    "append_step",
    "claim_request",
    "get_request",
    "insert_request",
    "requests_for_run",
    "set_state",
]

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


# --- reading and writing requests (the caller owns the session and the transaction) -------


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """A request as read back: frozen, so it can cross threads."""

    id: int
    account: str
    run_id: int | None
    kind: str
    options: dict[str, Any]
    requested_at: datetime
    requested_by: str | None
    state: str
    steps: list[dict[str, Any]]
    finished_at: datetime | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def _record(row: ControlRequestRow) -> ControlRequest:
    return ControlRequest(
        id=row.id,
        account=row.account,
        run_id=row.run_id,
        kind=row.kind,
        options=json.loads(row.options or "{}"),
        requested_at=row.requested_at,
        requested_by=row.requested_by,
        state=row.state,
        steps=json.loads(row.steps or "[]"),
        finished_at=row.finished_at,
        error=row.error,
    )


def insert_request(
    session: Session,
    *,
    account: str,
    at: datetime,
    options: dict[str, Any],
    run_id: int | None = None,
    requested_by: str | None = None,
    state: str = "requested",
    kind: str = "shutdown",
) -> int:
    """Add a request; returns its id."""
    row = ControlRequestRow(
        account=account,
        run_id=run_id,
        kind=kind,
        options=json.dumps(options, sort_keys=True),
        requested_at=at,
        requested_by=requested_by,
        state=state,
        steps="[]",
    )
    session.add(row)
    session.flush()
    return row.id


def get_request(session: Session, request_id: int) -> ControlRequest | None:
    row = session.get(ControlRequestRow, request_id, populate_existing=True)
    return None if row is None else _record(row)


def claim_request(session: Session, *, account: str, run_id: int) -> ControlRequest | None:
    """Take the oldest open request for `account` addressed to this run (or to any run).

    The conditional UPDATE is the claim: of two engines racing for one row (which should not
    happen, one engine owns an account) only one sees its update count as 1.
    """
    query = (
        select(ControlRequestRow.id)
        .where(
            ControlRequestRow.account == account,
            ControlRequestRow.state == "requested",
            (ControlRequestRow.run_id.is_(None)) | (ControlRequestRow.run_id == run_id),
        )
        .order_by(ControlRequestRow.id)
        .limit(1)
    )
    request_id = session.scalars(query).first()
    if request_id is None:
        return None
    claimed = session.execute(
        update(ControlRequestRow)
        .where(ControlRequestRow.id == request_id, ControlRequestRow.state == "requested")
        .values(state="accepted", run_id=run_id)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return get_request(session, request_id)


def append_step(session: Session, request_id: int, step: dict[str, Any]) -> None:
    """Add one step record; the single writer of a request (engine or script) calls this."""
    row = session.get(ControlRequestRow, request_id, populate_existing=True)
    if row is None:
        raise LookupError(f"no control request {request_id}")
    steps = json.loads(row.steps or "[]")
    steps.append(step)
    row.steps = json.dumps(steps, default=str)


def set_state(
    session: Session,
    request_id: int,
    state: str,
    *,
    at: datetime | None = None,
    error: str | None = None,
    run_id: int | None = None,
) -> None:
    values: dict[str, Any] = {"state": state}
    if at is not None:
        values["finished_at"] = at
    if error is not None:
        values["error"] = error
    if run_id is not None:
        values["run_id"] = run_id
    session.execute(
        update(ControlRequestRow).where(ControlRequestRow.id == request_id).values(**values)
    )


def requests_for_run(session: Session, run_id: int) -> list[ControlRequest]:
    query = select(ControlRequestRow).where(ControlRequestRow.run_id == run_id)
    return [_record(r) for r in session.scalars(query.order_by(ControlRequestRow.id))]
