"""Safe shutdown of an account's engine, verified step by step (through the database).

With a live engine, a control request row asks it to stop accepting, settle in-flight requests,
cancel all (unless --keep-orders), verify over REST that nothing is open, disarm the dead man's
switch and close; each step is printed as the engine reports it. With no live engine (stale
heartbeat, a dead process, or none recorded), this script does the same over REST with the
credentials from the environment (KRAKEN_API_KEY, KRAKEN_API_SECRET, KRAKEN_REST_URL), then
settles the database's open order rows from REST.

Exit status: 0 only when every step was verified; 1 when a step failed or no verdict came within
--timeout (the reason is printed); 2 for a bad argument, missing credentials or an unreadable
database.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from actors.rest_client import RestClient
from engine.config import EngineConfig
from engine.errors import ConfigError, DatabaseError
from engine.shutdown import Step, rest_shutdown
from persistence import control
from persistence.db import ensure_schema, make_engine, make_sessionmaker, schema_status
from persistence.models import EngineRunRow
from persistence.runs import ACTIVE_STATES, is_alive, live_runs
from scripts.history import add_db_argument, database_url
from scripts.status import add_stale_argument

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    add_stale_argument(parser)
    parser.add_argument(
        "--keep-orders",
        action="store_true",
        help="leave open orders resting (the dead man's switch is still disarmed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds"
    )
    parser.add_argument(
        "--account",
        default=None,
        help="account name (default: $KRAKEN_ACCOUNT, derived from $KRAKEN_API_KEY, "
        "or the only live engine's)",
    )


def _say(text: str) -> None:
    print(text, flush=True)


def _print_step(step: dict[str, Any] | Step) -> None:
    data = step.to_json_dict() if isinstance(step, Step) else step
    mark = "ok" if data.get("ok") else "FAILED"
    _say(f"  [{mark}] {data.get('name')}: {data.get('detail')}")


def _account_from_env() -> str | None:
    if os.environ.get("KRAKEN_ACCOUNT"):
        return os.environ["KRAKEN_ACCOUNT"]
    key, secret = os.environ.get("KRAKEN_API_KEY"), os.environ.get("KRAKEN_API_SECRET")
    if key and secret:
        return EngineConfig(api_key=key, api_secret=secret).account
    return None


def run(args: argparse.Namespace) -> int:
    url = database_url(args.db)
    db = make_engine(url)
    try:
        status = schema_status(db)
        if status.state in ("empty", "older") and db.dialect.name == "sqlite":
            ensure_schema(db)
        elif status.state != "current":
            ensure_schema(db, upgrade=False)  # raises with the operator's hint
        return _run(args, make_sessionmaker(db))
    except (DatabaseError, SQLAlchemyError) as exc:
        print(f"kraken-router shutdown: database: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()


def _run(args: argparse.Namespace, sessions: sessionmaker[Session]) -> int:
    started = time.monotonic()
    account = args.account or _account_from_env()
    now = datetime.now(UTC)
    with sessions() as session:
        live = live_runs(session, account, now, args.stale_after)
    if account is None:
        accounts = {r.account for r in live}
        if len(accounts) != 1:
            print(
                "kraken-router shutdown: name the account (--account, KRAKEN_ACCOUNT or "
                f"KRAKEN_API_KEY): {len(accounts)} live engine account(s) found",
                file=sys.stderr,
            )
            return 2
        account = accounts.pop()
    if live:
        target = live[0]
        verdict = _ask_engine(args, sessions, account, target, started)
        if verdict is not None:
            return verdict
        _say("the engine stopped answering before accepting: doing the steps over REST")
    return _over_rest(args, sessions, account, started)


def _ask_engine(
    args: argparse.Namespace,
    sessions: sessionmaker[Session],
    account: str,
    target: EngineRunRow,
    started: float,
) -> int | None:
    """Hand the request to the live engine and follow its steps; None if it never took it."""
    with sessions() as session, session.begin():
        request_id = control.insert_request(
            session,
            account=account,
            at=datetime.now(UTC),
            options={"keep_orders": args.keep_orders, "timeout": args.timeout},
            run_id=target.id,
            requested_by=f"operator@{socket.gethostname()}:{os.getpid()}",
        )
    _say(
        f"shutdown request {request_id} sent to engine run {target.id} "
        f"({target.host}:{target.pid}, account {account})"
        + (", keeping orders" if args.keep_orders else "")
    )
    shown = 0
    pause = threading.Event()
    while True:
        with sessions() as session:
            request = control.get_request(session, request_id)
            run = session.get(EngineRunRow, target.id, populate_existing=True)
        assert request is not None and run is not None
        for step in request.steps[shown:]:
            _print_step(step)
        shown = len(request.steps)
        if request.finished:
            if request.state == "done" and all(s.get("ok") for s in request.steps):
                _say(f"shutdown verified: engine run {target.id} stopped cleanly")
                return 0
            _say(f"shutdown FAILED: {request.error or 'a step was not verified'}")
            return 1
        elapsed = time.monotonic() - started
        if request.state == "requested" and not is_alive(run, datetime.now(UTC), args.stale_after):
            with sessions() as session, session.begin():
                control.set_state(
                    session,
                    request_id,
                    "failed",
                    at=datetime.now(UTC),
                    error="engine gone before accepting",
                )
            return None
        if elapsed >= args.timeout:
            _say(
                f"shutdown FAILED: no verdict from engine run {target.id} within "
                f"{args.timeout:g} s (request {request_id} is {request.state})"
            )
            return 1
        pause.wait(0.1)


def _over_rest(
    args: argparse.Namespace, sessions: sessionmaker[Session], account: str, started: float
) -> int:
    try:
        config = EngineConfig.from_env()
    except ConfigError as exc:
        print(f"kraken-router shutdown: no live engine, and {exc}", file=sys.stderr)
        return 2
    if config.account != account:
        print(
            f"kraken-router shutdown: the credentials are for account {config.account}, "
            f"not {account}",
            file=sys.stderr,
        )
        return 2
    remaining = max(1.0, args.timeout - (time.monotonic() - started))
    _say(f"no live engine for account {account}: doing the steps over REST ({config.rest_url})")
    rest = RestClient(
        config.rest_url,
        config.api_key,
        config.api_secret,
        timeout=min(config.connect_timeout, remaining),
    )
    with sessions() as session, session.begin():
        stale = [
            r.id
            for r in session.scalars(
                select(EngineRunRow).where(
                    EngineRunRow.account == account, EngineRunRow.state.in_(ACTIVE_STATES)
                )
            )
        ]
        request_id = control.insert_request(
            session,
            account=account,
            at=datetime.now(UTC),
            options={"keep_orders": args.keep_orders, "timeout": args.timeout, "via": "rest"},
            requested_by=f"operator@{socket.gethostname()}:{os.getpid()}",
            state="accepted",
        )

    def record(step: Step) -> None:
        _print_step(step)
        with sessions() as session, session.begin():
            control.append_step(session, request_id, step.to_json_dict())

    try:
        report = rest_shutdown(
            rest,
            sessions,
            account,
            keep_orders=args.keep_orders,
            timeout=remaining,
            sinks=[record],
        )
    finally:
        rest.close()
    with sessions() as session, session.begin():
        control.set_state(
            session,
            request_id,
            "done" if report.ok else "failed",
            at=datetime.now(UTC),
            error=report.error,
        )
        if stale:
            # the runs that died without a clean stop: say so, and that their switch is off
            values: dict[str, Any] = {"state": "crashed", "connection_state": "closed"}
            if report.ok:
                values.update(dms_armed_at=None, dms_trigger_at=None)
            session.execute(update(EngineRunRow).where(EngineRunRow.id.in_(stale)).values(**values))
    if report.ok:
        _say(f"shutdown verified over REST (request {request_id})")
        return 0
    _say(f"shutdown FAILED: {report.error}")
    return 1
