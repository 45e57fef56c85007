"""A private schema on the real PostgreSQL server, one per test (importable by every test: the
root conftest puts this directory on `sys.path`).

The server is the one this machine runs (`KRAKEN_TEST_PG_URL`, default database `test`). Each
test gets a schema of its own, reached through `search_path`, so tests never see each other's
rows and the database needs no cleaning between runs. Without a server these tests skip, except
under `CI=true`, where they fail loudly (CONTRACT: never a silent skip in CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

PG_URL = os.environ.get("KRAKEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def private_schema(prefix: str) -> Iterator[str]:
    """The URL of an empty schema named `<prefix>_<random>`, dropped with everything in it on
    leaving the block."""
    admin = create_engine(PG_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {PG_URL} unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
