"""Fixtures: file-backed SQLite in tmp_path and a fresh PostgreSQL schema per test.

PostgreSQL tests use their own schema (`search_path` set through the URL), dropped afterwards, so
concurrent runs on the shared `test` database never collide. When the server is unreachable they
skip, except under `CI=true`, where they fail loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker, upgrade

PG_URL = os.environ.get("KRAKEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _pg_admin() -> Engine:
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        message = f"PostgreSQL at {PG_URL} unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return engine


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of an empty, private schema on the real PostgreSQL server."""
    admin = _pg_admin()
    schema = f"kr_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/orders.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once per dialect."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on each dialect."""
    eng = make_engine(db_url)
    if eng.dialect.name == "postgresql":
        upgrade(eng)
    else:
        ensure_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def add_order(engine: Engine) -> Callable[..., int]:
    """Insert and commit one order; keyword arguments override the defaults."""
    sessions = make_sessionmaker(engine)

    def add(**kw: object) -> int:
        fields: dict[str, object] = {
            "account": "acct",
            "symbol": "BTC/USD",
            "side": "buy",
            "order_type": "limit",
            "order_qty": Decimal("1"),
            "limit_price": Decimal("100"),
            "params": {},
            "status": "new",
            "created_at": T0,
        }
        fields.update(kw)
        with sessions() as session:
            pk = repo.insert_order(session, **fields)  # type: ignore[arg-type]
            session.commit()
        return pk

    return add
