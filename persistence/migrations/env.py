"""Alembic environment: batch mode and the naming convention, so migrations also run on SQLite.

The database URL is, in order: a connection handed over by `persistence.db` (the engine and the
`kraken-router db` command do this), `-x url=...` on the alembic command line, the
`KRAKEN_DATABASE_URL` environment variable, then `sqlalchemy.url` from the configuration.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from persistence import models as _models  # noqa: F401  (registers the tables)
from persistence.base import Base
from persistence.db import make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("KRAKEN_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set KRAKEN_DATABASE_URL")
    return url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        user_module_prefix="persistence.types.",
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as own:
            _configure(own)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
