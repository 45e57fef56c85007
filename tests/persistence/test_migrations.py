"""Migrations up and down on both dialects, no drift, and every way a database is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from engine.errors import DatabaseError
from persistence.db import (
    alembic_config,
    check_schema,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    make_engine,
    schema_status,
    upgrade,
)

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "orders",
    "order_events",
    "fills",
    "symbol_summaries",
    "engine_runs",
    "reconciliations",
    "kv_state",
}


def test_upgrade_check_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    assert schema_status(engine).state == "empty"
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert check_schema(engine) == []
    with engine.connect() as conn:
        command.check(alembic_config(connection=conn))  # raises on drift
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert schema_status(engine).state == "empty"
    engine.dispose()


def test_alembic_cli_from_another_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"), "-x", f"url={url}"]
    for args in (["upgrade", "head"], ["check"], ["downgrade", "base"]):
        done = subprocess.run([*alembic, *args], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_sqlite_is_upgraded_at_start_unless_told_not_to(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with pytest.raises(DatabaseError, match="kraken-router db upgrade"):
        ensure_schema(engine, upgrade=False)
    ensure_schema(engine)
    assert schema_status(engine).state == "current"
    ensure_schema(engine, upgrade=False)  # at head: nothing to do
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def test_sqlite_creates_the_parent_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/a/b/orders.db", synchronous="FULL")
    ensure_schema(engine)
    assert (tmp_path / "a" / "b" / "orders.db").exists()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    engine.dispose()


def test_postgresql_refuses_an_older_schema(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with pytest.raises(DatabaseError, match="kraken-router db upgrade"):
        ensure_schema(engine)  # empty counts as older: only the operator migrates PostgreSQL
    upgrade(engine)
    ensure_schema(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "nosuchdialect://x/y",
        "postgresql+psycopg://postgres@127.0.0.1:1/test",
    ],
)
def test_a_database_that_cannot_be_opened(url: str) -> None:
    with pytest.raises(DatabaseError):
        ensure_schema(make_engine(url))


def test_sqlite_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseError):
        ensure_schema(make_engine(f"sqlite:///{tmp_path}/file/orders.db"))


def test_newer_revision_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    for action in (ensure_schema, upgrade):
        with pytest.raises(DatabaseError, match="does not know"):
            action(engine)
    engine.dispose()


def test_foreign_database_is_refused(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    for action in (ensure_schema, upgrade):
        with pytest.raises(DatabaseError, match="not a kraken-router database"):
            action(engine)
    engine.dispose()
