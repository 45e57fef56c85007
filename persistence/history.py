"""The read side of the order database, for users, scripts and the CLI.

Everything returned is a frozen record, never an ORM row, so callers cannot write by accident
and records can cross threads. Each call borrows a pooled connection and runs one short read
transaction, ended before the call returns (a read transaction left open would stop SQLite's WAL
checkpoints); on SQLite the reader connection is `query_only` and, with WAL, never waits for the
engine that is writing, so a script polling the history cannot slow order entry down or see
"database is locked".

Reads are on the hot path of scripts that poll, so they skip SQLAlchemy's per-call machinery:
each statement shape is compiled once per `History` and run on the DBAPI cursor, and rows
become records through the column types' own result processors (on SQLite, money is decimal
text read with one `Decimal(text)` and times are UTC text read with one `fromisoformat`).

A database that does not exist yet (or is empty) reads as "no orders": looking at the history
before the first engine run is not an error.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Engine,
    Integer,
    Select,
    Table,
    bindparam,
    false,
    make_url,
    select,
    union_all,
)
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from engine.errors import DatabaseError
from engine.kraken.codec import CodecError, decode
from persistence.db import UPGRADE_HINT, make_engine, schema_status
from persistence.models import LIVE_STATUSES, FillRow, OrderEventRow, OrderRow, SymbolSummaryRow
from persistence.types import DecimalText, UtcDateTime, canonical_decimal

__all__ = [
    "FILL_JSON_KEYS",
    "ORDER_JSON_KEYS",
    "EventRecord",
    "FillRecord",
    "History",
    "OrderRecord",
    "SymbolSummary",
    "Timeline",
]

ORDER_JSON_KEYS = (
    "order_id",
    "cl_ord_id",
    "order_userref",
    "symbol",
    "side",
    "order_type",
    "order_qty",
    "limit_price",
    "status",
    "cum_qty",
    "avg_price",
    "fees",
    "created_at",
    "updated_at",
)
FILL_JSON_KEYS = (
    "exec_id",
    "order_id",
    "trade_id",
    "symbol",
    "side",
    "last_qty",
    "last_price",
    "cost",
    "fee",
    "fee_asset",
    "liquidity_ind",
    "timestamp",
)

_orders: Table = OrderRow.__table__  # type: ignore[assignment]
_events: Table = OrderEventRow.__table__  # type: ignore[assignment]
_fills: Table = FillRow.__table__  # type: ignore[assignment]
_summaries: Table = SymbolSummaryRow.__table__  # type: ignore[assignment]


def _text(value: Any) -> Any:
    """JSON form: Decimals as exact canonical strings (the same on SQLite and PostgreSQL, which
    keeps trailing zeros), times as ISO-8601 UTC with `Z` like Kraken."""
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as stored; `to_json_dict` uses Kraken's field names."""

    id: int
    account: str
    order_id: str | None
    cl_ord_id: str | None
    order_userref: int | None
    symbol: str
    side: str
    order_type: str
    order_qty: Decimal
    limit_price: Decimal | None
    status: str
    cum_qty: Decimal
    avg_price: Decimal | None
    fees: Decimal
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    origin: str
    reason: str | None
    replaces_id: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """Exactly `ORDER_JSON_KEYS`; numbers as decimal strings, times ISO-8601 UTC."""
        return {key: _text(getattr(self, key)) for key in ORDER_JSON_KEYS}


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One journal entry; `raw` is the redacted frame or note that caused it."""

    id: int
    order_pk: int | None
    account: str
    at: datetime
    source: str
    kind: str
    status_before: str | None
    status_after: str | None
    req_id: int | None
    raw: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        """All fields, times ISO-8601 UTC; `raw` stays a JSON object with exact numbers."""
        return {
            "at": _text(self.at),
            "source": self.source,
            "kind": self.kind,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "req_id": self.req_id,
            "raw": self.raw,
        }


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill; `to_json_dict` uses the executions channel's names (`last_qty`, ...)."""

    id: int
    account: str
    order_pk: int | None
    order_id: str
    exec_id: str
    trade_id: int | None
    symbol: str | None
    side: str | None
    price: Decimal
    qty: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str | None
    liquidity_ind: str | None
    at: datetime | None
    source: str

    def to_json_dict(self) -> dict[str, Any]:
        """Exactly `FILL_JSON_KEYS`; numbers as decimal strings, times ISO-8601 UTC."""
        values = {
            "exec_id": self.exec_id,
            "order_id": self.order_id,
            "trade_id": self.trade_id,
            "symbol": self.symbol,
            "side": self.side,
            "last_qty": self.qty,
            "last_price": self.price,
            "cost": self.cost,
            "fee": self.fee,
            "fee_asset": self.fee_asset,
            "liquidity_ind": self.liquidity_ind,
            "timestamp": self.at,
        }
        return {key: _text(value) for key, value in values.items()}


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    """Totals of every recorded fill for one (account, symbol, side)."""

    account: str
    symbol: str
    side: str
    filled_qty: Decimal
    notional: Decimal
    avg_price: Decimal | None
    fees: Decimal
    fill_count: int

    def to_json_dict(self) -> dict[str, Any]:
        """All fields; numbers as decimal strings."""
        return {
            name: _text(getattr(self, name))
            for name in (
                "account",
                "symbol",
                "side",
                "filled_qty",
                "notional",
                "avg_price",
                "fees",
                "fill_count",
            )
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    """An order, then everything that happened to it, oldest first."""

    order: OrderRecord
    events: list[EventRecord]
    fills: list[FillRecord]

    def to_json_dict(self) -> dict[str, Any]:
        """`{"order": ..., "events": [...], "fills": [...]}`."""
        return {
            "order": self.order.to_json_dict(),
            "events": [event.to_json_dict() for event in self.events],
            "fills": [fill.to_json_dict() for fill in self.fills],
        }


Statuses = str | Sequence[str] | None


class History:
    """Queries over the order history.

    Safe to share between threads: each call borrows a connection from the engine's pool for
    its own duration (a pool checkout costs microseconds; a connection is never held between
    calls, so neither is a read transaction, which on SQLite would stop WAL checkpoints).

    Args:
        engine_or_url: an `Engine` (shared with the caller, not disposed by `close`) or a URL; a
            URL gets its own read-only engine and a SQLite file that does not exist yet reads as
            empty without being created.

    Raises:
        DatabaseError: (from any query) the URL is malformed, the database cannot be opened, or
            its schema is not this code's (newer, foreign, or older: run `kraken-router db
            upgrade`).
    """

    def __init__(self, engine_or_url: Engine | str) -> None:
        self._owned = isinstance(engine_or_url, str)
        self._engine: Engine | None = None if self._owned else engine_or_url  # type: ignore[assignment]
        self._url = engine_or_url if isinstance(engine_or_url, str) else None
        self._schema_ok = False
        self._sqlite_file = _sqlite_file(self._url) if self._url is not None else None
        self._reader: _Reader | None = None
        self._opening = threading.Lock()

    def close(self) -> None:
        """Release the connections of an engine this object created."""
        with self._opening:
            if self._owned and self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._reader = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- queries ------------------------------------------------------------------------------

    def orders(
        self,
        *,
        status: Statuses = None,
        symbol: str | None = None,
        side: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cl_ord_id: str | None = None,
        order_userref: int | None = None,
        account: str | None = None,
        limit: int | None = None,
    ) -> list[OrderRecord]:
        """Orders matching every given filter, newest first.

        Args:
            status: one word or several; `"open"` means every live status (pending_submit,
                submitted, pending_new, new, partially_filled).
            since: created at or after (aware datetime).
            until: created strictly before (aware datetime).
            limit: at most this many (the newest).
        """
        words = _statuses(status)
        params: dict[str, Any] = {
            name: value
            for name, value in (
                ("symbol", symbol),
                ("side", side),
                ("cl_ord_id", cl_ord_id),
                ("order_userref", order_userref),
                ("account", account),
                ("since", since),
                ("until", until),
            )
            if value is not None
        }
        if limit is not None:
            params["limit"] = int(limit)
        shape = ("orders", None if words is None else len(words), *params)
        if words is not None:
            params.update({f"status_{i}": word for i, word in enumerate(words)})
        with self._read() as read:
            if read is None:
                return []
            return read.fetch(shape, lambda: _orders_query(shape), params)

    def open_orders(self, *, account: str | None = None) -> list[OrderRecord]:
        """Orders that may still be working on the exchange, newest first."""
        return self.orders(status="open", account=account)

    def order(self, key: int | str, *, account: str | None = None) -> OrderRecord | None:
        """One order by our id (int), Kraken `order_id`, or `cl_ord_id` (the newest if reused).

        A string of digits that matches no `order_id` or `cl_ord_id` is tried as our id.
        """
        with self._read() as read:
            return None if read is None else _find(read, key, account)

    def timeline(self, key: int | str, *, account: str | None = None) -> Timeline | None:
        """The order (as in `order`), its journal and its fills, read in one snapshot."""
        with self._read(snapshot=True) as read:
            if read is None:
                return None
            order = _find(read, key, account)
            if order is None:
                return None
            params = {"order_pk": order.id}
            events = read.fetch(("events",), _events_query, params)
            fills = read.fetch(("order fills",), _order_fills_query, params)
            return Timeline(order, events, fills)

    def fills(
        self,
        *,
        symbol: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order_id: str | None = None,
        account: str | None = None,
        limit: int | None = None,
    ) -> list[FillRecord]:
        """Fills matching every given filter, newest first (`since` inclusive, `until` not).

        `order_id`: the fills of the order with that Kraken id, and those recorded before any
        order had it (waiting for their order); a fill is always booked on the order its id
        names, so these are the fills that name it.
        """
        params: dict[str, Any] = {
            name: value
            for name, value in (
                ("symbol", symbol),
                ("order_id", order_id),
                ("account", account),
                ("since", since),
                ("until", until),
            )
            if value is not None
        }
        if limit is not None:
            params["limit"] = int(limit)
        shape = ("fills", *params)
        with self._read() as read:
            if read is None:
                return []
            return read.fetch(shape, lambda: _fills_query(shape), params)

    def summary(self, *, account: str | None = None) -> list[SymbolSummary]:
        """Filled quantity, notional, average price and fees per (account, symbol, side)."""
        params = {} if account is None else {"account": account}
        shape = ("summary", *params)
        with self._read() as read:
            if read is None:
                return []
            return read.fetch(shape, lambda: _summary_query(shape), params)

    # --- plumbing -----------------------------------------------------------------------------

    def _reader_or_none(self) -> _Reader | None:
        """The reader, once the database exists and its schema is this code's."""
        reader = self._reader
        if reader is not None:
            return reader
        with self._opening:  # threads sharing a fresh History open one engine, not several
            return self._open()

    def _open(self) -> _Reader | None:
        if self._reader is not None:
            return self._reader
        if self._engine is None:
            if self._sqlite_file is not None and not self._sqlite_file.exists():
                return None  # nothing written yet; connecting would create the file
            assert self._url is not None
            self._engine = make_engine(self._url, readonly=True)
        engine = self._engine
        if not self._schema_ok:
            status = schema_status(engine)
            if status.state == "empty":
                return None
            if status.state != "current":
                detail = {
                    "older": f"older than this code: {UPGRADE_HINT}",
                    "foreign": "not a kraken-router database (tables but no alembic revision)",
                    "newer_or_unknown": "at a revision this code does not know (newer?)",
                }[status.state]
                raise DatabaseError(f"order database {_safe(engine)} is {detail}")
            self._schema_ok = True
        reader = self._reader = _Reader(engine)
        return reader

    @contextlib.contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[_Read | None]:
        """A pooled DBAPI connection for one call; with `snapshot`, every statement of the call
        reads the same SQLite snapshot. Whatever happens, the read transaction ends here."""
        reader = self._reader_or_none()
        if reader is None:
            yield None
            return
        engine = reader.engine
        try:
            connection = engine.raw_connection()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"reading {_safe(engine)} failed: {exc}") from exc
        try:
            dbapi = connection.dbapi_connection
            cursor = connection.cursor()
            try:
                if snapshot and reader.sqlite and not getattr(dbapi, "in_transaction", True):
                    cursor.execute("BEGIN")
                yield _Read(reader, cursor)
            finally:
                cursor.close()
            # ends the read transaction now (the BEGIN above, or PostgreSQL's implicit one)
            connection.rollback()
        except reader.dbapi_errors as exc:
            if reader.dialect.is_disconnect(cast(Any, exc), dbapi, None):
                connection.invalidate(exc)
            raise DatabaseError(f"reading {_safe(engine)} failed: {exc}") from exc
        finally:
            connection.close()  # back to the pool, which rolls back anything left over


class _Reader:
    """What one History needs per engine: the statements it has compiled for this dialect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.sqlite = self.dialect.name == "sqlite"
        self.dbapi_errors: type[BaseException] = self.dialect.loaded_dbapi.Error
        self.statements: dict[Hashable, _Prepared] = {}


class _Read:
    """One call's cursor: runs prepared statements and returns records."""

    __slots__ = ("cursor", "reader")

    def __init__(self, reader: _Reader, cursor: Any) -> None:
        self.reader = reader
        self.cursor = cursor

    def fetch(
        self, shape: Hashable, build: Callable[[], _Query], params: dict[str, Any]
    ) -> list[Any]:
        """Run the statement for `shape` (compiled by `build` on first use) with `params`."""
        statements = self.reader.statements
        prepared = statements.get(shape)
        if prepared is None:
            prepared = statements[shape] = _Prepared(build(), self.reader)
        return prepared.fetch(self.cursor, params, self.reader)


@dataclass(frozen=True, slots=True)
class _Query:
    """A SELECT of the columns `finish` takes, in its parameter order."""

    statement: Select[Any]
    finish: Callable[..., Any]


class _Prepared:
    """A SELECT compiled once for one dialect and run on the DBAPI cursor.

    Bind values pass through their column types' bind processors. Results skip SQLAlchemy's
    result machinery: each column gets its type's own result processor, except on SQLite,
    where money is decimal text (`Decimal(text)`) and times are fixed-width UTC text (one
    `datetime.fromisoformat`), which are what the processors would return, minus the layers.
    """

    __slots__ = ("_binds", "_convert", "_finish", "_fixed", "_positional", "_types", "sql")

    def __init__(self, query: _Query, reader: _Reader) -> None:
        dialect = reader.dialect
        compiled = query.statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._positional = dialect.positional
        names = compiled.positiontup if dialect.positional else list(compiled.params)
        self._binds = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names or ()
        )
        # values the statement carries itself (SQLite's `OFFSET 0` after a bound LIMIT)
        self._fixed = {
            name: compiled.binds[name].value
            for name in names or ()
            if not compiled.binds[name].required
        }
        self._types = tuple(column.type for column in query.statement.selected_columns)
        self._finish = query.finish
        # (column index, processor) of the columns that need one; known after the first run
        self._convert: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None

    def fetch(self, cursor: Any, params: dict[str, Any], reader: _Reader) -> list[Any]:
        if self._fixed:
            params = {**self._fixed, **params}
        try:
            values = [
                params[name] if proc is None else proc(params[name]) for name, proc in self._binds
            ]
        except (TypeError, ValueError) as exc:  # e.g. a naive datetime
            raise DatabaseError(f"reading {_safe(reader.engine)} failed: {exc}") from exc
        if self._positional:
            cursor.execute(self.sql, values)
        else:
            names = (name for name, _ in self._binds)
            cursor.execute(self.sql, dict(zip(names, values, strict=True)))
        rows = cursor.fetchall()
        convert = self._convert
        if convert is None:
            convert = self._convert = self._converters(cursor.description, reader)
        finish = self._finish
        if not convert:
            return [finish(*row) for row in rows]
        records = []
        for row in rows:
            values = list(row)
            for i, proc in convert:
                value = values[i]
                if value is not None:
                    values[i] = proc(value)
            records.append(finish(*values))
        return records

    def _converters(
        self, description: Sequence[Sequence[Any]], reader: _Reader
    ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        dialect = reader.dialect
        convert = []
        for i, (type_, column) in enumerate(zip(self._types, description, strict=True)):
            proc: Callable[[Any], Any] | None = type_.dialect_impl(dialect).result_processor(
                dialect, column[1]
            )
            if reader.sqlite and proc is not None:
                if isinstance(type_, DecimalText):
                    proc = Decimal  # TEXT affinity: always the canonical decimal text
                elif isinstance(type_, UtcDateTime):
                    proc = _sqlite_utc(proc)
            if proc is not None:
                convert.append((i, proc))
        return tuple(convert)


# SQLAlchemy's SQLite DATETIME text: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC, no offset
_SQLITE_DATETIME_LEN = 26


def _sqlite_utc(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`UtcDateTime`'s result on SQLite in one parse; other text takes the type's own path."""
    parse = datetime.fromisoformat

    def convert(value: Any) -> Any:
        if type(value) is str and len(value) == _SQLITE_DATETIME_LEN:
            try:
                return parse(value + "+00:00")
            except ValueError:
                pass  # e.g. text with an offset of its own
        return general(value)

    return convert


def _safe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"malformed database URL: {exc}") from exc
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _statuses(status: Statuses) -> list[str] | None:
    if status is None:
        return None
    words = [status] if isinstance(status, str) else list(status)
    expanded: list[str] = []
    for word in words:
        expanded.extend(LIVE_STATUSES if word == "open" else (word,))
    return expanded


# --- the statements (each compiled once per History and shape) -------------------------------


def _columns(table: Table, record: Any) -> list[Any]:
    return [table.c[f.name] for f in dataclass_fields(record)]


_ORDER_COLUMNS = _columns(_orders, OrderRecord)
_FILL_COLUMNS = _columns(_fills, FillRecord)
_EVENT_COLUMNS = _columns(_events, EventRecord)
_SUMMARY_COLUMNS = [
    _summaries.c[name]
    for name in ("account", "symbol", "side", "filled_qty", "notional", "fees", "fill_count")
]


def _filtered(query: Select[Any], table: Table, shape: Sequence[Any], at: str) -> Select[Any]:
    """`column = :name` for every column name in `shape`; `since`/`until` bound `at`."""
    for name in shape:
        if name == "since":
            query = query.where(table.c[at] >= bindparam("since"))
        elif name == "until":
            query = query.where(table.c[at] < bindparam("until"))
        elif isinstance(name, str) and name in table.c:
            query = query.where(table.c[name] == bindparam(name))
    return query


def _limited(query: Select[Any], shape: Sequence[Any]) -> Select[Any]:
    return query.limit(bindparam("limit", type_=Integer)) if "limit" in shape else query


def _orders_query(shape: Sequence[Any]) -> _Query:
    """`shape` is ("orders", number of status words or None, filter names...)."""
    query = select(*_ORDER_COLUMNS)
    if shape[1] is not None:
        status = _orders.c.status
        binds = [bindparam(f"status_{i}", type_=status.type) for i in range(shape[1])]
        query = query.where(status.in_(binds) if binds else false())
    query = _filtered(query, _orders, shape, "created_at")
    query = query.order_by(_orders.c.created_at.desc(), _orders.c.id.desc())
    return _Query(_limited(query, shape), OrderRecord)


def _fills_query(shape: Sequence[Any]) -> _Query:
    by_order = "order_id" in shape  # then the account is checked inside (see below)
    # an account without a symbol: written `account || ''`, which no index serves, so that
    # SQLite walks `ix_fills_at` newest first and checks the account on the way. Given the
    # plain equality it took `(account, symbol, at)` and sorted every fill of the account to
    # return the newest few (330 ms for 50 of 250,000).
    by_time = "account" in shape and "symbol" not in shape and not by_order
    written_below = {"order_id", "account"} if by_order else {"account"} if by_time else set()
    names = [n for n in shape if n not in written_below]
    query = _filtered(select(*_FILL_COLUMNS), _fills, names, "at")
    if by_order:
        query = query.where(_fills_of_order_id(with_account="account" in shape))
    if by_time:
        query = query.where(_fills.c.account.concat("") == bindparam("account"))
    query = query.order_by(_fills.c.at.desc(), _fills.c.id.desc())
    return _Query(_limited(query, shape), FillRecord)


def _fills_of_order_id(with_account: bool) -> Any:
    """`fills.order_id = :order_id`, in a form the indexes serve.

    `fills.order_id` is indexed only for the fills that wait for their order (`order_pk IS
    NULL`, migration 0004); every other fill is booked on the order row that carries its
    Kraken id (the engine books a fill on the order the id names), and is found by that row's
    pk. Both ways also check the fill's own `order_id` and `account`. Written as `id IN (...)`
    so that the planner starts from these few rows, and with `account || ''` in the booked
    way, which no index serves: otherwise SQLite walked the account's every fill.
    """
    key: Any = bindparam("order_id")
    waiting = select(_fills.c.id).where(_fills.c.order_pk.is_(None), _fills.c.order_id == key)
    of_rows = select(_orders.c.id).where(_orders.c.order_id == key)
    booked = select(_fills.c.id).where(_fills.c.order_pk.in_(of_rows), _fills.c.order_id == key)
    if with_account:
        account: Any = bindparam("account")
        waiting = waiting.where(_fills.c.account == account)
        booked = booked.where(_fills.c.account.concat("") == account)
    return _fills.c.id.in_(union_all(waiting, booked))


def _summary_query(shape: Sequence[Any]) -> _Query:
    query = _filtered(select(*_SUMMARY_COLUMNS), _summaries, shape, "")
    query = query.order_by(_summaries.c.account, _summaries.c.symbol, _summaries.c.side)
    return _Query(query, _summary)


def _events_query() -> _Query:
    query = select(*_EVENT_COLUMNS).where(_events.c.order_pk == bindparam("order_pk"))
    return _Query(query.order_by(_events.c.id), _event)


def _order_fills_query() -> _Query:
    query = select(*_FILL_COLUMNS).where(_fills.c.order_pk == bindparam("order_pk"))
    return _Query(query.order_by(_fills.c.at, _fills.c.id), FillRecord)


def _find_query(by: str, with_account: bool) -> _Query:
    query = select(*_ORDER_COLUMNS).where(_orders.c[by] == bindparam("key"))
    if with_account:
        query = query.where(_orders.c.account == bindparam("account"))
    return _Query(_limited(query.order_by(_orders.c.id.desc()), ["limit"]), OrderRecord)


def _find(read: _Read, key: int | str, account: str | None) -> OrderRecord | None:
    candidates: list[tuple[str, int | str]] = []
    if isinstance(key, int):
        candidates.append(("id", key))
    else:
        candidates.append(("order_id", key))
        candidates.append(("cl_ord_id", key))
        if key.isdigit():
            candidates.append(("id", int(key)))
    with_account = account is not None
    for by, value in candidates:
        params: dict[str, Any] = {"key": value, "limit": 1}
        if with_account:
            params["account"] = account
        build = functools.partial(_find_query, by, with_account)
        rows = read.fetch(("find", by, with_account), build, params)
        if rows:
            found: OrderRecord = rows[0]
            return found
    return None


def _event(
    id: int,
    order_pk: int | None,
    account: str,
    at: datetime,
    source: str,
    kind: str,
    status_before: str | None,
    status_after: str | None,
    req_id: int | None,
    raw: str | None,
) -> EventRecord:
    try:
        decoded = decode(raw) if raw else {}
    except CodecError:
        decoded = {"unparsed": raw}
    return EventRecord(
        id, order_pk, account, at, source, kind, status_before, status_after, req_id, decoded
    )


def _summary(
    account: str,
    symbol: str,
    side: str,
    filled_qty: Decimal,
    notional: Decimal,
    fees: Decimal,
    fill_count: int,
) -> SymbolSummary:
    avg = notional / filled_qty if filled_qty else None
    return SymbolSummary(account, symbol, side, filled_qty, notional, avg, fees, fill_count)
