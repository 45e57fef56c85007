"""Opening the order database and keeping its schema at the code's revision.

SQLite is the default store: every connection gets WAL (readers never wait for the writer), a
busy timeout, foreign keys and the chosen `synchronous` level. The engine upgrades an older SQLite
file itself at start; a PostgreSQL database is shared and long-lived, so its schema changes only
when an operator runs `kraken-router db upgrade`, under an advisory lock so two upgrades never race.

Alembic is configured from the package directory (`persistence/migrations`), never from the
current directory, so the same code works from a checkout and from an installed wheel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import DatabaseError
from persistence import models
from persistence.base import Base

__all__ = [
    "DEFAULT_URL",
    "MIGRATIONS_DIR",
    "SchemaStatus",
    "Write",
    "alembic_config",
    "check_schema",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "schema_status",
    "session_writer",
    "upgrade",
]

DEFAULT_URL = "sqlite:///kraken-orders.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `kraken-router db upgrade` to migrate it"
# pg_advisory_lock key shared by every `kraken-router db upgrade|downgrade` ("krakenrt" in ASCII)
_ADVISORY_LOCK_KEY = 0x6B72616B656E7274
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_ = models  # the tables must be registered on Base.metadata before comparing


def make_engine(
    url: str,
    *,
    synchronous: str = "NORMAL",
    readonly: bool = False,
    wal_autocheckpoint: int | None = None,
) -> Engine:
    """Create an engine for `url`; nothing is connected yet.

    Args:
        url: SQLAlchemy URL, e.g. `sqlite:///orders.db` or `postgresql+psycopg://host/db`.
        synchronous: SQLite's `synchronous` pragma. `NORMAL` survives a process crash, `FULL`
            also a power loss, at a cost in commit latency.
        readonly: for readers (`persistence.history`): SQLite connections are `query_only` and
            each read transaction is a real snapshot, and the parent directory is not created.
        wal_autocheckpoint: SQLite's automatic checkpoint threshold in pages; 0 turns it off
            for a writer whose checkpoints run on a thread of their own (`checkpoint_wal`), so
            that no commit on the hot path pays for copying the WAL back.

    Raises:
        DatabaseError: the URL is malformed, names an unknown driver, or its directory cannot
            be created.
    """
    level = synchronous.upper()
    if level not in _SYNCHRONOUS:
        raise DatabaseError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}: {synchronous}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"malformed database URL {_safe(url)}: {exc}") from exc
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": 10}
    if parsed.get_backend_name() == "sqlite" and not readonly:
        _create_parent(parsed)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"cannot use database URL {_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _install_sqlite_pragmas(engine, level, readonly, wal_autocheckpoint)
    return engine


# past this many WAL frames (64 MiB of 4 KiB pages) a checkpoint also rewinds the log
WAL_RESTART_FRAMES = 16_384

# frames a RESTART checkpoint may still have to copy (about 1 MiB): it copies them while the
# writer waits, and a backlog of thousands (PASSIVE kept out by a read or a commit) stalled
# order-manager commits for 100-300 ms
WAL_RESTART_LEFT_MAX = 256


def should_restart(
    log_frames: int | None,
    checkpointed: int | None,
    restart_frames: int = WAL_RESTART_FRAMES,
    left_max: int = WAL_RESTART_LEFT_MAX,
) -> bool:
    """After a PASSIVE checkpoint: rewind the WAL when it is long and the PASSIVE pass left
    little to copy; otherwise wait for a turn on which it did."""
    if log_frames is None or checkpointed is None or log_frames < restart_frames:
        return False
    return log_frames - checkpointed <= left_max


def checkpoint_wal(engine: Engine, restart_frames: int = WAL_RESTART_FRAMES) -> None:
    """One PASSIVE checkpoint: copies what it can without waiting for readers or the writer.

    Under a steady stream of commits a PASSIVE checkpoint never finds the log fully copied at
    the moment a write begins, so SQLite never rewinds it: the WAL (and its index, mapped into
    every connection) grows with the number of orders. Once it holds `restart_frames` frames, a
    RESTART checkpoint follows, on a turn where the PASSIVE pass left at most
    `WAL_RESTART_LEFT_MAX` frames: it copies those while it holds the writer off, and the next
    commit writes the log from its start again, so the file stops growing at about
    `restart_frames` pages. Not TRUNCATE: cutting a 64 MiB file while the writer waits stalled
    commits for 100-300 ms on a slow disk, for nothing but a smaller file between turns. It
    waits at most 5 ms for the writer's transaction to end and for readers (busy timeout):
    with a read or a write in progress it gives up until the next turn.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if row is not None and should_restart(row[1], row[2], restart_frames):
            conn.exec_driver_sql("PRAGMA busy_timeout=5")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=5000")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions for one thread each; `expire_on_commit=False` so rows stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database stands relative to this code's migrations."""

    state: Literal["empty", "older", "current", "newer_or_unknown", "foreign"]
    current: tuple[str, ...]
    head: str
    tables: tuple[str, ...]


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An alembic `Config` pointing at the packaged migrations, independent of the cwd."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_status(engine: Engine) -> SchemaStatus:
    """Classify the database without changing it.

    Raises:
        DatabaseError: the database cannot be opened.
    """
    with _connect(engine) as conn:
        return _status(conn)


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for an empty one."""
    status = schema_status(engine)
    return status.current[0] if status.current else None


def ensure_schema(engine: Engine, *, upgrade: bool = True) -> None:
    """Make sure the database is at this code's head revision before the engine uses it.

    An empty or older SQLite database is upgraded (unless `upgrade` is False); an empty or older
    PostgreSQL database is refused, because its schema is changed only by the operator.

    Raises:
        DatabaseError: the database cannot be opened, is newer than this code, is not a
            kraken-router database, or needs an upgrade that is not done here.
    """
    status = schema_status(engine)
    _refuse_unusable(status, engine)
    if status.state == "current":
        return
    if engine.dialect.name != "sqlite" or not upgrade:
        where = "empty" if status.state == "empty" else f"at revision {status.current[0]}"
        raise DatabaseError(
            f"database {_safe(engine.url)} is {where}, older than this code ({status.head}): "
            f"{UPGRADE_HINT}"
        )
    _migrate(engine, "upgrade", "head")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to `revision` (the operator's `kraken-router db upgrade`).

    On PostgreSQL this holds `pg_advisory_lock` for the duration, so concurrent upgrades queue.

    Raises:
        DatabaseError: unreachable, foreign or newer database, or an unknown revision.
    """
    _refuse_unusable(schema_status(engine), engine)
    _migrate(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Downgrade to `revision` (`base` removes every table); same lock as `upgrade`."""
    _refuse_unusable(schema_status(engine), engine)
    _migrate(engine, "downgrade", revision)


def check_schema(engine: Engine) -> list[Any]:
    """Differences between the models and the database (empty when there is no drift).

    Raises:
        DatabaseError: the database is not at head, so a comparison would be meaningless.
    """
    status = schema_status(engine)
    _refuse_unusable(status, engine)
    if status.state != "current":
        raise DatabaseError(f"database {_safe(engine.url)} is not at head: {UPGRADE_HINT}")
    with _connect(engine) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


# --- private helpers -----------------------------------------------------------------------


def _safe(url: str | URL) -> str:
    """The URL with any password masked, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed URL>"


def _create_parent(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the directory of {database}: {exc}") from exc


def _install_sqlite_pragmas(
    engine: Engine, synchronous: str, readonly: bool, wal_autocheckpoint: int | None = None
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: the journal_mode switch itself may have to wait for a lock
            cursor.execute("PRAGMA busy_timeout=5000")
            if readonly:
                cursor.execute("PRAGMA query_only=ON")
            else:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal_autocheckpoint is not None and not readonly:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
        finally:
            cursor.close()
        if readonly:
            # let SQLAlchemy emit BEGIN so that a read sees one consistent snapshot
            dbapi_connection.isolation_level = None

    if readonly:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")


@contextlib.contextmanager
def _connect(engine: Engine) -> Iterator[Connection]:
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot open database {_safe(engine.url)}: {_first_line(exc)}"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _status(conn: Connection) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    try:
        tables = tuple(sorted(t for t in inspect(conn).get_table_names() if t != "alembic_version"))
        current = tuple(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot read database {_safe(conn.engine.url)}: {_first_line(exc)}"
        ) from exc
    finally:
        if conn.in_transaction():
            conn.rollback()
    if not current:
        return SchemaStatus("foreign" if tables else "empty", current, head, tables)
    if current == (head,):
        return SchemaStatus("current", current, head, tables)
    known = {rev.revision for rev in script.walk_revisions()}
    state: Literal["older", "newer_or_unknown"] = (
        "older" if len(current) == 1 and current[0] in known else "newer_or_unknown"
    )
    return SchemaStatus(state, current, head, tables)


def _refuse_unusable(status: SchemaStatus, engine: Engine) -> None:
    where = _safe(engine.url)
    if status.state == "foreign":
        raise DatabaseError(
            f"database {where} has tables ({', '.join(status.tables[:5])}) but no alembic "
            "revision: it is not a kraken-router database; use another database"
        )
    if status.state == "newer_or_unknown":
        raise DatabaseError(
            f"database {where} is at revision {', '.join(status.current)}, which this code "
            f"(head {status.head}) does not know: it was written by a newer kraken-router or "
            "is not a kraken-router database; upgrade kraken-router or use another database"
        )


def _migrate(engine: Engine, direction: Literal["upgrade", "downgrade"], revision: str) -> None:
    with _connect(engine) as conn:
        sqlite = conn.dialect.name == "sqlite"
        postgres = conn.dialect.name == "postgresql"
        try:
            if sqlite:
                # batch migrations rebuild tables; foreign keys would fire on the copies
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            if postgres:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
                conn.commit()
                # another upgrade may have finished while we waited for the lock
                _refuse_unusable(_status(conn), engine)
            config = alembic_config(connection=conn)
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
            conn.commit()
        except CommandError as exc:
            conn.rollback()
            raise DatabaseError(
                f"cannot {direction} {_safe(engine.url)} to {revision}: {exc}"
            ) from exc
        except SQLAlchemyError as exc:
            conn.rollback()
            raise DatabaseError(
                f"{direction} of {_safe(engine.url)} failed: {_first_line(exc)}"
            ) from exc
        finally:
            if postgres:
                with contextlib.suppress(SQLAlchemyError):
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                    )
                    conn.commit()
            if sqlite:
                with contextlib.suppress(SQLAlchemyError):
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")


Write: TypeAlias = Callable[[Callable[[Session], Any]], Any]
"""Run `work(session)` in a committed write transaction and return what it returned.

The engine hands its background writes (heartbeat, dead man's switch state) to the order
manager's writer through one of these, so the process has a single SQLite writer."""


def session_writer(sessions: sessionmaker[Session]) -> Write:
    """A `Write` on a session of its own: for code that runs without an engine."""

    def write(work: Callable[[Session], Any]) -> Any:
        with sessions() as session, session.begin():
            return work(session)

    return write
