"""Show the engines recorded in the database: liveness, connection, dead man's switch, orders.

An engine is live when its heartbeat is younger than `--stale-after` seconds (and, on this host,
its process still exists); a run still marked running without that is presumed dead. Read-only:
safe to run while an engine trades.

Exit status: 0 when at least one engine is live, 1 when none is, 2 when the database cannot be
read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actors.operator import status_key
from engine.errors import DatabaseError
from persistence import repository
from persistence.control import ControlRequestRow
from persistence.db import make_engine, make_sessionmaker
from persistence.models import LIVE_STATUSES, EngineRunRow, OrderRow, ReconciliationRow
from persistence.runs import ACTIVE_STATES, is_alive
from scripts.history import add_db_argument, database_url

__all__ = ["RunView", "add_arguments", "add_stale_argument", "read_runs", "run"]


@dataclass(frozen=True, slots=True)
class RunView:
    """One engine run as the operator sees it."""

    run_id: int
    account: str
    host: str
    pid: int
    state: str
    alive: bool
    heartbeat_age_s: float | None
    connection_state: str | None
    dms_trigger_at: str | None
    open_orders: int
    in_flight: int | None
    last_reconciliation: dict[str, Any] | None
    last_shutdown: dict[str, Any] | None
    started_at: str
    stopped_at: str | None


def add_stale_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stale-after",
        type=float,
        default=10.0,
        metavar="S",
        help="a heartbeat older than S seconds means the engine is gone (default 10)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    add_stale_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--all", action="store_true", help="also list stopped runs")


def read_runs(
    session: Session, *, stale_after: float, account: str | None = None, everything: bool = False
) -> list[RunView]:
    """Runs still marked active (or every run with `everything`), newest first."""
    now = datetime.now(UTC)
    query = select(EngineRunRow).order_by(EngineRunRow.id.desc())
    if account is not None:
        query = query.where(EngineRunRow.account == account)
    if not everything:
        query = query.where(EngineRunRow.state.in_(ACTIVE_STATES))
    has_control = inspect(session.connection()).has_table("control_requests")
    views: list[RunView] = []
    for run in session.scalars(query.execution_options(populate_existing=True)):
        open_orders = session.scalar(
            select(func.count())
            .select_from(OrderRow)
            .where(OrderRow.account == run.account, OrderRow.status.in_(LIVE_STATUSES))
        )
        raw = repository.get_kv(session, run.account, status_key(run.id))
        status: dict[str, Any] = json.loads(raw) if raw else {}
        recon = session.scalars(
            select(ReconciliationRow)
            .where(ReconciliationRow.account == run.account)
            .order_by(ReconciliationRow.id.desc())
            .limit(1)
        ).first()
        shutdown = None
        if has_control:
            request = session.scalars(
                select(ControlRequestRow)
                .where(ControlRequestRow.run_id == run.id)
                .order_by(ControlRequestRow.id.desc())
                .limit(1)
            ).first()
            if request is not None:
                shutdown = {"id": request.id, "state": request.state, "error": request.error}
        views.append(
            RunView(
                run_id=run.id,
                account=run.account,
                host=run.host,
                pid=run.pid,
                state=run.state,
                alive=is_alive(run, now, stale_after),
                heartbeat_age_s=(
                    None
                    if run.heartbeat_at is None
                    else round((now - run.heartbeat_at).total_seconds(), 3)
                ),
                connection_state=run.connection_state,
                dms_trigger_at=run.dms_trigger_at.isoformat() if run.dms_trigger_at else None,
                open_orders=int(open_orders or 0),
                in_flight=status.get("in_flight"),
                last_reconciliation=(
                    None
                    if recon is None
                    else {
                        "started_at": recon.started_at.isoformat(),
                        "finished_at": recon.finished_at.isoformat() if recon.finished_at else None,
                        "reason": recon.reason,
                        "outcome": recon.outcome,
                        "changed": recon.changed,
                    }
                ),
                last_shutdown=shutdown,
                started_at=run.started_at.isoformat(),
                stopped_at=run.stopped_at.isoformat() if run.stopped_at else None,
            )
        )
    return views


def _switch_text(trigger_at: str | None, now: datetime) -> str:
    """The trigger time and how far it is: a switch whose time has passed has fired on
    Kraken (every open order of the account canceled) unless something re-armed it since."""
    if trigger_at is None:
        return "not armed"
    at = datetime.fromisoformat(trigger_at)
    seconds = ((at if at.tzinfo else at.replace(tzinfo=UTC)) - now).total_seconds()
    if seconds >= 0:
        return f"{trigger_at} (fires in {seconds:.0f} s unless re-armed)"
    return f"{trigger_at} (passed {-seconds:.0f} s ago: fired unless re-armed elsewhere)"


def run(args: argparse.Namespace) -> int:
    url = database_url(args.db)
    db = make_engine(url, readonly=True)
    try:
        with make_sessionmaker(db)() as session:
            views = read_runs(session, stale_after=args.stale_after, everything=args.all)
    except (SQLAlchemyError, DatabaseError) as exc:
        print(f"kraken-router status: cannot read the database: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    live = [v for v in views if v.alive]
    if args.json:
        print(json.dumps({"live": len(live), "runs": [asdict(v) for v in views]}, indent=2))
        return 0 if live else 1
    if not views:
        print(
            "no engine run is recorded"
            + ("" if args.all else " as active (--all lists stopped runs too)")
        )
        return 1
    for v in views:
        age = "never" if v.heartbeat_age_s is None else f"{v.heartbeat_age_s:.1f} s ago"
        verdict = "LIVE" if v.alive else ("presumed dead" if v.state in ACTIVE_STATES else v.state)
        print(f"run {v.run_id}  account {v.account}  {v.host}:{v.pid}  {v.state}  [{verdict}]")
        print(f"  heartbeat          {age}")
        print(f"  connection         {v.connection_state or '-'}")
        print(f"  dead man's switch  {_switch_text(v.dms_trigger_at, datetime.now(UTC))}")
        print(f"  open orders        {v.open_orders}")
        print(f"  in flight          {'-' if v.in_flight is None else v.in_flight}")
        recon = v.last_reconciliation
        print(
            "  last reconciliation "
            + (
                "-"
                if recon is None
                else f"{recon['started_at']} {recon['outcome'] or 'running'} "
                f"({recon['reason']}, {recon['changed']} changed)"
            )
        )
        if v.last_shutdown is not None:
            s = v.last_shutdown
            print(f"  last shutdown      #{s['id']} {s['state']} {s['error'] or ''}".rstrip())
    return 0 if live else 1
