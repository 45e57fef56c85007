"""Manage the order database schema: db upgrade [REV] | downgrade REV | current | check.

`upgrade` is how a PostgreSQL database is migrated (the engine refuses an older one and never
migrates it itself); it holds a PostgreSQL advisory lock so two upgrades never run at once. On
SQLite the engine upgrades at start, so this is only needed to prepare a file in advance.
`check` exits 1 when the database differs from the models (schema drift).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine

from engine.errors import DatabaseError
from persistence import db
from scripts.history import add_db_argument, database_url

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`db ACTION [REV] [--db URL]`."""
    parser.add_argument("action", choices=("upgrade", "downgrade", "current", "check"))
    parser.add_argument(
        "revision", nargs="?", help="target revision (upgrade: default head; downgrade: required)"
    )
    add_db_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run the action; 0 on success, 1 on drift, 2 on an unusable database or bad arguments."""
    url = database_url(args.db)
    try:
        engine = db.make_engine(url)
        try:
            return _act(engine, args.action, args.revision)
        finally:
            engine.dispose()
    except DatabaseError as exc:
        print(f"kraken-router: error: {exc}", file=sys.stderr)
        return 2


def _act(engine: Engine, action: str, revision: str | None) -> int:
    if action == "upgrade":
        db.upgrade(engine, revision or "head")
        print(f"database at {db.current_revision(engine)} (head {db.head_revision()})")
    elif action == "downgrade":
        if not revision:
            print("kraken-router: error: db downgrade needs a revision (or base)", file=sys.stderr)
            return 2
        db.downgrade(engine, revision)
        print(f"database at {db.current_revision(engine) or 'base (empty)'}")
    elif action == "current":
        status = db.schema_status(engine)
        current = ", ".join(status.current) or "none (empty database)"
        note = {"current": " (head)", "older": f" (older than head {status.head})"}.get(
            status.state, f" ({status.state}; head is {status.head})"
        )
        print(f"{current}{note}")
    else:
        diffs = db.check_schema(engine)
        if diffs:
            print("schema drift between the models and the database:")
            for diff in diffs:
                print(f"  {diff}")
            return 1
        print("no drift: the database matches the models")
    return 0
