"""Fixtures: file-backed SQLite in tmp_path and a fresh PostgreSQL schema per test.

PostgreSQL tests use their own schema (`search_path` set through the URL), dropped afterwards, so
concurrent runs on the shared `test` database never collide (`pg_support.private_schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pg_support import private_schema
from sqlalchemy import Engine

from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker, upgrade

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of an empty, private schema on the real PostgreSQL server."""
    with private_schema("kr_test") as url:
        yield url


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
