"""Which engine runs are alive: a fresh heartbeat and, on this host, a process that exists.

The engine asks before it starts (one engine per account: it owns the account's dead man's
switch, and a second writer would stall the first on SQLite's lock); `kraken-router status`
and `shutdown` ask to find the engine they talk to.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence.models import EngineRunRow

__all__ = ["ACTIVE_STATES", "is_alive", "live_runs"]

# a run in one of these states has not recorded its end (it may have died without one)
ACTIVE_STATES = ("starting", "running", "stopping")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(run: EngineRunRow, now: datetime, stale_after: float) -> bool:
    """Fresh heartbeat and, when the run is on this host, a process that still exists (a
    process killed a moment ago leaves a fresh heartbeat behind)."""
    if run.state not in ACTIVE_STATES or run.heartbeat_at is None:
        return False
    if (now - run.heartbeat_at).total_seconds() > stale_after:
        return False
    return run.host != socket.gethostname() or _pid_exists(run.pid)


def live_runs(
    session: Session, account: str | None, now: datetime, stale_after: float
) -> list[EngineRunRow]:
    """The account's live runs (every account's with None), newest first."""
    query = select(EngineRunRow).where(EngineRunRow.state.in_(ACTIVE_STATES))
    if account is not None:
        query = query.where(EngineRunRow.account == account)
    runs = session.scalars(query.order_by(EngineRunRow.id.desc()))
    return [run for run in runs if is_alive(run, now, stale_after)]
