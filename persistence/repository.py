"""The write side of the order database, used only by the order manager actor.

Every function takes the caller's `Session` and never commits: one handled message is one short
transaction owned by the actor (DESIGN principle 11). Hot paths (`insert_order`, `update_order`,
`append_event`, `insert_fill`) use Core statements through the session, which skips the ORM unit
of work; the engine needs thousands of committed orders per second on SQLite.

Nothing secret reaches the database: raw frames and order parameters pass through `redact`, which
drops `token` and any key named like a secret, at any depth.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Dialect,
    Executable,
    Insert,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ClauseElement

from engine.domain.reports import FillReport
from engine.kraken.codec import encode, format_decimal
from persistence.models import (
    LIVE_STATUSES,
    EngineRunRow,
    FillRow,
    KvStateRow,
    OrderEventRow,
    OrderRow,
    ReconciliationRow,
    SymbolSummaryRow,
)
from persistence.types import DecimalText, UtcDateTime, canonical_decimal

__all__ = [
    "LIVE_STATUSES",
    "FillRow",
    "OrderRow",
    "append_event",
    "bind_driver_connection",
    "claim_fills",
    "find_order",
    "finish_reconciliation",
    "get_kv",
    "insert_fill",
    "insert_order",
    "live_orders",
    "redact",
    "set_kv",
    "start_reconciliation",
    "start_run",
    "unbind_driver_connection",
    "unlinked_fill_order_ids",
    "update_order",
    "update_run",
]

_orders: Table = OrderRow.__table__  # type: ignore[assignment]
_events: Table = OrderEventRow.__table__  # type: ignore[assignment]
_fills: Table = FillRow.__table__  # type: ignore[assignment]
_summaries: Table = SymbolSummaryRow.__table__  # type: ignore[assignment]
_runs: Table = EngineRunRow.__table__  # type: ignore[assignment]
_recons: Table = ReconciliationRow.__table__  # type: ignore[assignment]
_kv: Table = KvStateRow.__table__  # type: ignore[assignment]

# built once so SQLAlchemy's compiled cache is hit on every call
_INSERT_ORDER = insert(_orders)
_INSERT_EVENT = insert(_events)
_INSERT_FILL_SQLITE = sqlite.insert(_fills).on_conflict_do_nothing(
    index_elements=["account", "exec_id"]
)
# SET clause taken from the parameter names, so one statement serves every field combination
_UPDATE_ORDER = update(_orders).where(_orders.c.id == bindparam("order_pk_"))
_ORDER_COLUMNS = frozenset(c.name for c in _orders.columns) - {"id"}
_RUN_COLUMNS = frozenset(c.name for c in _runs.columns) - {"id"}

_SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "otp",
        "signature",
        "sign",
        "private",
        "authorization",
        "credential",
        "credentials",
    }
)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _exec(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    # Core statements on the session's connection: same transaction, without the ORM's
    # execution path (which costs more than SQLite's commit itself)
    connection = session.connection()
    if params is None:
        return connection.execute(statement)
    return connection.execute(statement, params)


class _DriverStatement:
    """A statement compiled once for SQLite and run on the DBAPI cursor of the session's
    connection, with the column types' own bind processors.

    This is the hot path of the order manager: SQLAlchemy's per-execute bookkeeping costs
    several times SQLite's own insert, and the engine commits once per order. It shares the
    session's transaction (the session still commits or rolls back); other dialects take the
    ordinary Core path.
    """

    __slots__ = ("converters", "names", "processors", "row_group", "sql", "sql_for_rows")

    def __init__(self, statement: ClauseElement, table: Table, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        # a plain INSERT of one VALUES row: `run_many` repeats the row to write many rows in
        # one statement (see `_insert_rows`); None for anything else
        head, _, group = self.sql.rpartition(" VALUES ")
        plain = head.startswith("INSERT INTO ") and _ONE_ROW.fullmatch(group) is not None
        self.row_group = group if plain else None
        self.sql_for_rows: dict[int, str] = {}
        # positional (qmark) order of the bind names; SQLCompiler has it, Compiled's stub not
        self.names: tuple[str, ...] = tuple(getattr(compiled, "positiontup", None) or ())
        self.processors = tuple(
            _bind_processor(table.c[name].type, dialect) if name in table.c else None
            for name in self.names
        )
        # only the positions that need converting (most columns are passed as they are)
        self.converters = tuple(
            (index, proc) for index, proc in enumerate(self.processors) if proc is not None
        )

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for one row; an absent name binds NULL."""
        row = list(map(params.get, self.names))
        for index, proc in self.converters:
            row[index] = proc(row[index])
        return row

    def run_many(self, connection: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        values = list(map(self.values, rows))
        cursor = connection.cursor()
        try:
            if self.row_group is not None and len(values) > 1:
                self._insert_rows(cursor, values)
            else:
                cursor.executemany(self.sql, values)
        finally:
            cursor.close()

    def _insert_rows(self, cursor: Any, values: list[list[Any]]) -> None:
        """Many rows in a few multi-row INSERTs, not one `executemany`.

        sqlite3 lets go of the GIL around every step of a statement, and `executemany` steps
        once per row. With the caller and reader threads busy, each step's end then waited
        for the GIL to come back: an `executemany` of 400 journal rows took 3 to 9 ms beside
        one busy Python thread, 2 to 3 ms as multi-row INSERTs (1.3 to 2.5 ms for both with
        no other thread). Rows go in chunks of a few fixed sizes (few distinct statements for
        sqlite3's statement cache), each within SQLite's oldest bound-parameter limit (999).
        """
        width = self.sql.count("?")
        start, total = 0, len(values)
        for size in _ROWS_PER_INSERT:
            if size > 1 and size * width > _SQLITE_MAX_PARAMETERS:
                continue
            while total - start >= size:
                if size == 1:
                    cursor.execute(self.sql, values[start])
                else:
                    sql = self.sql_for_rows.get(size)
                    if sql is None:
                        assert self.row_group is not None
                        sql = self.sql + ("," + self.row_group) * (size - 1)
                        self.sql_for_rows[size] = sql
                    flat: list[Any] = []
                    for row in values[start : start + size]:
                        flat.extend(row)
                    cursor.execute(sql, flat)
                start += size

    def run(self, connection: Any, params: Mapping[str, Any]) -> Any:
        """Execute on the DBAPI connection; returns (lastrowid, rowcount)."""
        values = self.values(params)
        cursor = connection.cursor()
        try:
            cursor.execute(self.sql, values)
            return cursor.lastrowid, cursor.rowcount
        finally:
            cursor.close()


def _bind_processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's bind processor on SQLite, with a one-call path for the engine's own
    money and time types (the generic chain is three calls, and it ran for most cells of every
    executemany).

    The fast path handles finite `Decimal`s and UTC datetimes, the only values the engine
    writes, and hands anything else to the generic processor, which validates and converts as
    it always did. It is used only when it gives the generic processor's text for probe values.
    """
    generic = column_type.dialect_impl(dialect).bind_processor(dialect)
    if generic is None:
        return None
    fast: Callable[[Any], Any]
    probes: tuple[Any, ...]
    if isinstance(column_type, DecimalText):

        def fast(value: Any) -> Any:
            # canonical_decimal raises on NaN and infinities, like the generic path
            return canonical_decimal(value) if type(value) is Decimal else generic(value)

        probes = (Decimal("-12.3400"), Decimal("1E+2"), Decimal("0E-8"), Decimal("-0"))
    elif isinstance(column_type, UtcDateTime):
        # a transaction stamps its rows with one `now`: remember the last time's text (no
        # dict: hashing a fresh datetime costs as much as writing it). A tuple, so that two
        # threads can never pair one time with the other's text.
        last: list[tuple[datetime | None, str]] = [(None, "")]

        def fast(value: Any) -> Any:
            seen, text = last[0]
            if value is seen:
                return text
            if type(value) is not datetime or value.tzinfo is not UTC:
                return generic(value)  # naive times are refused there; others converted
            # "+00:00" cut off: cheaper than replace(tzinfo=None) first, the same text
            text = value.isoformat(" ", "microseconds")[:26]
            last[0] = (value, text)
            return text

        probes = (datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC))
    else:
        return generic  # type: ignore[no-any-return]
    if any(fast(probe) != generic(probe) for probe in probes):
        return generic  # type: ignore[no-any-return]
    return fast


_ZERO = Decimal(0)


_driver_statements: dict[Any, _DriverStatement] = {}  # SQLite's (qmark) statements by key

_ONE_ROW = re.compile(r"\((?:\?, )*\?\)")  # "(?, ?, ?)": one row of an INSERT's VALUES
_ROWS_PER_INSERT = (64, 16, 4, 1)
_SQLITE_MAX_PARAMETERS = 999  # SQLITE_MAX_VARIABLE_NUMBER before SQLite 3.32


_SQLITE_KEY = "kraken_router.sqlite_connection"


_BOUND_KEY = "kraken_router.driver_connection"


def bind_driver_connection(session: Session, connection: Connection) -> None:
    """Run this module's SQLite statements on `connection`'s driver connection until
    `unbind_driver_connection`: for a writer whose transaction is the connection's own (begun
    with `connection.begin()`, the session bound to that connection), so that no statement
    asks the session for its connection. Does nothing on other dialects."""
    dialect = connection.dialect
    if dialect.name == "sqlite" and dialect.positional:
        session.info[_BOUND_KEY] = (connection.connection.dbapi_connection, dialect)


def unbind_driver_connection(session: Session) -> None:
    session.info.pop(_BOUND_KEY, None)


def _sqlite_connection(session: Session) -> tuple[Any, Dialect] | None:
    """The DBAPI connection under the session's transaction, and its dialect, when it is
    SQLite; None otherwise.

    Remembered in `session.info` for the transaction it belongs to: `Session.connection()`
    costs more than SQLite's own insert of a fill, and the order manager asks for every fill.
    """
    bound = session.info.get(_BOUND_KEY)
    if bound is not None:
        return bound  # type: ignore[no-any-return]
    transaction = session.get_transaction()
    cached = session.info.get(_SQLITE_KEY)
    if (
        cached is not None
        and transaction is not None
        and cached[0] is transaction
        and transaction.is_active
    ):
        return cached[1]  # type: ignore[no-any-return]
    connection = session.connection()
    dialect = connection.dialect
    found = None
    if dialect.name == "sqlite" and dialect.positional:
        found = (connection.connection.dbapi_connection, dialect)
    session.info[_SQLITE_KEY] = (session.get_transaction(), found)
    return found


def _driver_statement(
    session: Session, key: Any, table: Table, build: Callable[[], ClauseElement]
) -> tuple[_DriverStatement, Any] | None:
    found = _sqlite_connection(session)
    if found is None:
        return None
    dbapi, dialect = found
    statement = _driver_statements.get(key)
    if statement is None:
        statement = _DriverStatement(build(), table, dialect)
        _driver_statements[key] = statement
    return statement, dbapi


def _driver_run(
    session: Session, key: Any, table: Table, build: Callable[[], ClauseElement], params: Any
) -> tuple[int | None, int] | None:
    """Run on the SQLite fast path, or return None when the session is not on SQLite."""
    found = _driver_statement(session, key, table, build)
    if found is None:
        return None
    statement, connection = found
    lastrowid, rowcount = statement.run(connection, params)
    return lastrowid, rowcount


def _driver_run_many(
    session: Session,
    key: Any,
    table: Table,
    build: Callable[[], ClauseElement],
    rows: Sequence[Mapping[str, Any]],
) -> bool:
    """executemany on the SQLite fast path; False when the session is not on SQLite."""
    found = _driver_statement(session, key, table, build)
    if found is None:
        return False
    statement, connection = found
    statement.run_many(connection, rows)
    return True


# --- redaction -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True for `token`, `wsToken`, `api_secret`, `API-Sign`, `otp` ... (word-wise match)."""
    words = {w.lower() for w in _WORD_SPLIT.split(key) if w}
    return bool(words & _SECRET_WORDS) or key.lower() in _SECRET_WORDS


def redact(raw: Any) -> Any:
    """A JSON-ready copy of `raw` without secrets, at any depth.

    Keys named like a secret are removed (not masked: a masked token still says one was sent).
    Values are made encodable by `engine.kraken.codec.encode`: datetimes become ISO-8601 text,
    floats exact `Decimal`s of their repr, tuples and sets lists, enums their value.
    """
    if isinstance(raw, Mapping):
        return {str(k): redact(v) for k, v in raw.items() if not is_secret_key(str(k))}
    if isinstance(raw, list | tuple):
        return [redact(v) for v in raw]
    if isinstance(raw, set | frozenset):
        return sorted((redact(v) for v in raw), key=str)
    if raw is None or isinstance(raw, str | bool | int | Decimal):
        return raw
    if isinstance(raw, float):
        return Decimal(repr(raw))
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    if isinstance(raw, enum.Enum):
        return redact(raw.value)
    return str(raw)


def _json(raw: Mapping[str, Any] | None) -> str:
    """`encode(redact(raw))` in one pass ("{}" for None): the journal's hot path.

    Plain dicts, lists and the scalar types of a decoded frame are written directly; anything
    else (a non-string key, a float, a datetime, an enum, another Mapping...) goes through
    `redact` and `encode`, so the text is always the same as theirs.
    """
    if raw is None:
        return "{}"
    out: list[str] = []
    _write_redacted(raw, out)
    return "".join(out)


# '"key":' for a key written as it is, "" for a key named like a secret (bounded: keys come
# from the venue's vocabulary, but nothing forces them to)
_KEY_TEXT: dict[str, str] = {}
_KEY_TEXT_MAX = 4096


def _key_text(key: str) -> str:
    text = _KEY_TEXT.get(key)
    if text is None:
        text = "" if is_secret_key(key) else _encode_str(key) + ":"
        if len(_KEY_TEXT) < _KEY_TEXT_MAX:
            _KEY_TEXT[key] = text
    return text


def _write_redacted(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is dict:
        # a decoded report: a flat object of strings and numbers, written inline
        append = out.append
        key_texts = _KEY_TEXT
        mark = len(out)
        append("{")
        comma = False
        for key, item in value.items():
            if type(key) is not str:
                # str(key) may collide with another key: let redact decide, as it always did
                del out[mark:]
                append(encode(redact(value)))
                return
            text = key_texts.get(key)
            if text is None:
                text = _key_text(key)
            if not text:
                continue  # named like a secret
            if comma:
                append(",")
            comma = True
            append(text)
            item_kind = type(item)
            if item_kind is str:
                append(_encode_str(item))
            elif item_kind is Decimal:
                append(format_decimal(item))  # raises CodecError for NaN and infinities
            else:
                _write_redacted(item, out)
        append("}")
    elif kind is str:
        out.append(_encode_str(value))
    elif kind is Decimal:
        out.append(format_decimal(value))
    elif value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        out.append(str(value))
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write_redacted(item, out)
        out.append("]")
    else:
        out.append(encode(redact(value)))


# --- orders ----------------------------------------------------------------------------------


def insert_order(
    session: Session,
    *,
    account: str,
    symbol: str,
    side: str,
    order_type: str,
    order_qty: Decimal,
    limit_price: Decimal | None,
    params: Mapping[str, Any],
    status: str,
    created_at: datetime,
    cl_ord_id: str | None = None,
    order_userref: int | None = None,
    order_id: str | None = None,
    origin: str = "engine",
    replaces_id: int | None = None,
    engine_run_id: int | None = None,
    deadline: datetime | None = None,
) -> int:
    """Insert one order row and return its primary key (our order id).

    `params` is every parameter sent to Kraken; it is stored redacted as JSON.
    """
    values = {
        "account": account,
        "cl_ord_id": cl_ord_id,
        "order_userref": order_userref,
        "order_id": order_id,
        "symbol": symbol,
        "side": side,
        "order_type": order_type,
        "order_qty": order_qty,
        "limit_price": limit_price,
        "params": _json(params),
        "status": status,
        "cum_qty": Decimal(0),
        "cum_cost": Decimal(0),
        "avg_price": None,
        "fees": Decimal(0),
        "reason": None,
        "origin": origin,
        "replaces_id": replaces_id,
        "engine_run_id": engine_run_id,
        "deadline": deadline,
        "created_at": created_at,
        "sent_at": None,
        "acknowledged_at": None,
        "updated_at": created_at,
        "closed_at": None,
    }
    fast = _driver_run(session, "insert_order", _orders, lambda: _INSERT_ORDER, values)
    if fast is not None and fast[0] is not None:
        return fast[0]
    pk = _exec(session, _INSERT_ORDER, values).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def update_order(session: Session, order_pk: int, **fields: Any) -> None:
    """Set columns of one order; `updated_at` defaults to now (UTC).

    Raises:
        ValueError: a field is not a column of `orders`.
        LookupError: no order has this primary key.
    """
    unknown = fields.keys() - _ORDER_COLUMNS
    if unknown:
        raise ValueError(f"not columns of orders: {', '.join(sorted(unknown))}")
    if "params" in fields and not isinstance(fields["params"], str):
        fields["params"] = _json(fields["params"])
    fields.setdefault("updated_at", datetime.now(UTC))
    fields["order_pk_"] = order_pk
    names = tuple(sorted(fields))
    fast = _driver_run(
        session,
        ("update_order", names),
        _orders,
        lambda: _UPDATE_ORDER.values({n: bindparam(n) for n in names if n != "order_pk_"}),
        fields,
    )
    rowcount = fast[1] if fast is not None else _exec(session, _UPDATE_ORDER, fields).rowcount
    if rowcount == 0:
        raise LookupError(f"no order with id {order_pk}")


def append_event(
    session: Session,
    *,
    account: str,
    order_pk: int | None,
    at: datetime,
    source: str,
    kind: str,
    status_before: str | None = None,
    status_after: str | None = None,
    raw: Mapping[str, Any] | None = None,
    req_id: int | None = None,
) -> None:
    """Append one journal entry; `raw` is stored redacted (no token, no secret, at any depth)."""
    values = {
        "account": account,
        "order_pk": order_pk,
        "at": at,
        "source": source,
        "kind": kind,
        "status_before": status_before,
        "status_after": status_after,
        "req_id": req_id,
        "raw": _json(raw),
    }
    if _driver_run(session, "append_event", _events, lambda: _INSERT_EVENT, values) is None:
        _exec(session, _INSERT_EVENT, values)


def append_events(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Append many journal entries in one statement (the order manager's group commit).

    Each entry has the keyword arguments of `append_event`; `raw` is stored redacted.
    """
    if not events:
        return
    # a trade's report and its fill are journaled with the same raw message: encode it once
    # (keyed by identity; every raw stays alive in `events` for the whole call)
    texts: dict[int, str] = {}
    rows = []
    for e in events:
        raw = e.get("raw")
        text = texts.get(id(raw))
        if text is None:
            text = texts[id(raw)] = _json(raw)
        rows.append(
            {
                "account": e["account"],
                "order_pk": e.get("order_pk"),
                "at": e["at"],
                "source": e["source"],
                "kind": e["kind"],
                "status_before": e.get("status_before"),
                "status_after": e.get("status_after"),
                "req_id": e.get("req_id"),
                "raw": text,
            }
        )
    if not _driver_run_many(session, "append_event", _events, lambda: _INSERT_EVENT, rows):
        _exec(session, _INSERT_EVENT, rows)


def update_orders(session: Session, updates: Mapping[int, Mapping[str, Any]]) -> None:
    """Set the same columns on many orders in one executemany (one entry per order pk).

    Every mapping must name the same columns; the order manager writes its whole mutable state
    of each order it touched, once per transaction however many times it changed.
    """
    if not updates:
        return
    names = sorted(next(iter(updates.values())))
    unknown = set(names) - _ORDER_COLUMNS
    if unknown:
        raise ValueError(f"not columns of orders: {', '.join(sorted(unknown))}")
    rows = [{**fields, "order_pk_": pk} for pk, fields in updates.items()]

    def build() -> Executable:
        return _UPDATE_ORDER.values({n: bindparam(n) for n in names})

    key = ("update_order", (*names, "order_pk_"))
    if not _driver_run_many(session, key, _orders, build, rows):  # type: ignore[arg-type]
        _exec(session, build(), rows)


def find_order(
    session: Session,
    account: str,
    *,
    cl_ord_id: str | None = None,
    order_id: str | None = None,
    order_pk: int | None = None,
) -> OrderRow | None:
    """The order matching every given key (the newest when several share a `cl_ord_id`)."""
    if cl_ord_id is None and order_id is None and order_pk is None:
        raise ValueError("find_order needs cl_ord_id, order_id or order_pk")
    query = select(OrderRow).where(OrderRow.account == account)
    if order_pk is not None:
        query = query.where(OrderRow.id == order_pk)
    if order_id is not None:
        query = query.where(OrderRow.order_id == order_id)
    if cl_ord_id is not None:
        query = query.where(OrderRow.cl_ord_id == cl_ord_id)
    query = query.order_by(OrderRow.id.desc()).limit(1)
    # Core updates bypass the identity map: always reload what the database says
    return session.scalars(query.execution_options(populate_existing=True)).first()


def edit_replacements_in_flight(
    session: Session, account: str, symbol: str, side: str
) -> list[OrderRow]:
    """Replacements this engine recorded for edited orders that no answer has named yet.

    Kraken gives an edit's new order neither the original's `cl_ord_id` nor any other key of
    ours, so when the answer is lost only the order's fields can tie the two together. A sent
    replacement's row may still say `pending_submit`: the order manager does not write the
    `submitted` mark, its book holds it.
    """
    query = (
        select(OrderRow)
        .where(
            OrderRow.account == account,
            OrderRow.symbol == symbol,
            OrderRow.side == side,
            OrderRow.origin == "engine",
            OrderRow.replaces_id.is_not(None),
            OrderRow.order_id.is_(None),
            OrderRow.status.in_(("pending_submit", "submitted")),
        )
        .order_by(OrderRow.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


def live_orders(session: Session, account: str) -> list[OrderRow]:
    """Orders that may still be working (or whose fate is unknown), oldest first."""
    query = (
        select(OrderRow)
        .where(OrderRow.account == account, OrderRow.status.in_(LIVE_STATUSES))
        .order_by(OrderRow.id)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))


# --- fills -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FillTarget:
    order_pk: int | None
    symbol: str | None
    side: str | None


def _fill_target(
    session: Session, account: str, order_pk: int | None, fill: FillReport
) -> _FillTarget:
    if order_pk is not None and fill.symbol is not None and fill.side is not None:
        return _FillTarget(order_pk, fill.symbol, fill.side)
    query = select(_orders.c.id, _orders.c.symbol, _orders.c.side).where(
        _orders.c.account == account
    )
    if order_pk is not None:
        query = query.where(_orders.c.id == order_pk)
    else:
        query = query.where(_orders.c.order_id == fill.order_id)
    row = _exec(session, query).first()
    if row is None:
        return _FillTarget(order_pk, fill.symbol, fill.side)
    return _FillTarget(row.id, fill.symbol or row.symbol, fill.side or row.side)


def _insert_ignoring_conflict(
    session: Session, table: Table, values: Mapping[str, Any], keys: list[str]
) -> bool:
    """Insert unless a row with the same `keys` exists; True when a row was written."""
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "sqlite":
        statement = (
            sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
    elif dialect == "postgresql":
        # psycopg reports rowcount -1 here; a RETURNING row says whether the insert happened
        statement = (
            postgresql.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        return _exec(session, statement).first() is not None
    else:
        exists = select(*(table.c[k] for k in keys)).where(*(table.c[k] == values[k] for k in keys))
        if _exec(session, exists).first() is not None:
            return False
        statement = insert(table).values(**values)
    return bool(_exec(session, statement).rowcount)


SummaryDeltas = dict[tuple[str, str, str], list[Any]]
"""(account, symbol, side) -> [qty, cost, fee, count] not yet written to `symbol_summaries`."""


def insert_fill(
    session: Session,
    *,
    account: str,
    order_pk: int | None,
    fill: FillReport,
    summaries: SummaryDeltas | None = None,
) -> bool:
    """Record a fill once; False (and nothing changed) when `(account, exec_id)` is known.

    A new fill also adds to the `(account, symbol, side)` summary row, at once, or, when the
    caller passes `summaries`, into that dict for one `add_to_summaries` per transaction. When
    the report lacks the symbol or side, or `order_pk` is None, they are taken from the order
    row (matched by `order_id`) if there is one.
    """
    symbol, side = fill.symbol, fill.side
    if order_pk is None or symbol is None or side is None:
        target = _fill_target(session, account, order_pk, fill)
        order_pk, symbol, side = target.order_pk, target.symbol, target.side
    cost = fill.cost if fill.cost is not None else fill.last_qty * fill.last_price
    values = {
        "account": account,
        "order_pk": order_pk,
        "order_id": fill.order_id,
        "exec_id": fill.exec_id,
        "trade_id": fill.trade_id,
        "symbol": symbol,
        "side": side,
        "price": fill.last_price,
        "qty": fill.last_qty,
        "cost": cost,
        "fee": fill.fee,
        "fee_asset": fill.fee_asset,
        "liquidity_ind": fill.liquidity_ind,
        "at": fill.timestamp,
        "source": fill.source,
    }
    fast = _driver_run(session, "insert_fill", _fills, _build_insert_fill, values)
    written = fast[1] == 1 if fast is not None else _insert_fill_portable(session, values)
    if written and symbol is not None and side is not None:
        if summaries is None:
            _add_to_summary(session, account, symbol, side, fill.last_qty, cost, fill.fee)
        else:
            key = (account, symbol, side)
            delta = summaries.get(key)
            if delta is None:
                # 0 + x: the same context rounding as every later addition
                summaries[key] = [_ZERO + fill.last_qty, _ZERO + cost, _ZERO + fill.fee, 1]
            else:
                delta[0] += fill.last_qty
                delta[1] += cost
                delta[2] += fill.fee
                delta[3] += 1
    return written


def unlinked_fill_order_ids(session: Session, account: str) -> set[str]:
    """Kraken order ids of fills recorded before any order row carried that id."""
    query = (
        select(_fills.c.order_id)
        .where(_fills.c.account == account, _fills.c.order_pk.is_(None))
        .distinct()
    )
    return {row.order_id for row in _exec(session, query)}


def claim_fills(session: Session, account: str, order_id: str, order_pk: int) -> list[FillReport]:
    """Link to `order_pk` the fills recorded for `order_id` while no order row had that id, and
    return them (oldest first) so that the caller books them onto the order.

    A fill that arrives before its order is known by Kraken's id (the acknowledgement lost, the
    REST trade seen before its order) is recorded at once, or it could be lost; this is how it
    reaches its order's quantities and fees once the order learns the id.
    """
    query = (
        select(_fills)
        .where(
            _fills.c.account == account,
            _fills.c.order_id == order_id,
            _fills.c.order_pk.is_(None),
        )
        .order_by(_fills.c.id)
    )
    rows = list(_exec(session, query))
    if not rows:
        return []
    _exec(
        session,
        update(_fills).where(_fills.c.id.in_([row.id for row in rows])).values(order_pk=order_pk),
    )
    return [
        FillReport(
            exec_id=row.exec_id,
            order_id=row.order_id,
            last_qty=row.qty,
            last_price=row.price,
            timestamp=row.at,
            cost=row.cost,
            fee=row.fee,
            fee_asset=row.fee_asset,
            liquidity_ind=row.liquidity_ind,
            trade_id=row.trade_id,
            symbol=row.symbol,
            side=row.side,
            source=row.source,
            raw={"exec_id": row.exec_id, "claimed_by": order_pk},
        )
        for row in rows
    ]


def _build_insert_fill() -> ClauseElement:
    return _INSERT_FILL_SQLITE


def add_to_summaries(session: Session, summaries: SummaryDeltas) -> None:
    """Write the summary deltas collected by `insert_fill(..., summaries=...)`."""
    for (account, symbol, side), (qty, cost, fee, count) in summaries.items():
        _add_to_summary(session, account, symbol, side, qty, cost, fee, count)


def _insert_fill_portable(session: Session, values: Mapping[str, Any]) -> bool:
    return _insert_ignoring_conflict(
        session,
        _fills,
        dict(values),
        ["account", "exec_id"],
    )


def _add_to_summary(
    session: Session,
    account: str,
    symbol: str,
    side: str,
    qty: Decimal,
    cost: Decimal,
    fee: Decimal,
    count: int = 1,
) -> None:
    # Decimal arithmetic in Python: SQLite stores text, and SQL would sum it as floats
    key = (
        _summaries.c.account == account,
        _summaries.c.symbol == symbol,
        _summaries.c.side == side,
    )
    for _attempt in range(2):
        row = _exec(session, select(_summaries).where(*key).with_for_update()).first()
        if row is not None:
            _exec(
                session,
                update(_summaries)
                .where(*key)
                .values(
                    filled_qty=row.filled_qty + qty,
                    notional=row.notional + cost,
                    fees=row.fees + fee,
                    fill_count=row.fill_count + count,
                ),
            )
            return
        first = {
            "account": account,
            "symbol": symbol,
            "side": side,
            "filled_qty": qty,
            "notional": cost,
            "fees": fee,
            "fill_count": count,
        }
        if _insert_ignoring_conflict(session, _summaries, first, ["account", "symbol", "side"]):
            return
    raise RuntimeError(f"summary row for {account} {symbol} {side} kept changing")


# --- engine runs, reconciliations, key-value state --------------------------------------------


def start_run(
    session: Session, *, account: str, host: str, pid: int, at: datetime, version: str
) -> int:
    """Record that an engine process is starting; returns the run id."""
    result = _exec(
        session,
        insert(_runs).values(
            account=account,
            host=host,
            pid=pid,
            started_at=at,
            state="starting",
            heartbeat_at=at,
            version=version,
        ),
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def update_run(session: Session, run_id: int, **fields: Any) -> None:
    """Set columns of an engine run (state, heartbeat_at, connection_state, dms_*, stopped_at)."""
    unknown = fields.keys() - _RUN_COLUMNS
    if unknown:
        raise ValueError(f"not columns of engine_runs: {', '.join(sorted(unknown))}")
    _exec(session, update(_runs).where(_runs.c.id == run_id).values(**fields))


def start_reconciliation(
    session: Session, *, account: str, run_id: int | None, at: datetime, reason: str
) -> int:
    """Record that a reconciliation pass started; returns its id."""
    result = _exec(
        session,
        insert(_recons).values(
            account=account, run_id=run_id, started_at=at, reason=reason, changed=0
        ),
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def finish_reconciliation(
    session: Session,
    reconciliation_id: int,
    *,
    at: datetime,
    outcome: str,
    changed: int = 0,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Close a reconciliation pass with `outcome` `ok` or `failed` and a redacted JSON summary."""
    _exec(
        session,
        update(_recons)
        .where(_recons.c.id == reconciliation_id)
        .values(
            finished_at=at,
            outcome=outcome,
            changed=changed,
            summary=_json(summary) if summary is not None else None,
        ),
    )


def get_kv(session: Session, account: str, key: str) -> str | None:
    """A small durable fact (e.g. the last REST nonce), or None."""
    return _exec(
        session, select(_kv.c.value).where(_kv.c.account == account, _kv.c.key == key)
    ).scalar_one_or_none()


def set_kv(session: Session, account: str, key: str, value: str) -> None:
    """Store or replace a small durable fact."""
    result = _exec(
        session, update(_kv).where(_kv.c.account == account, _kv.c.key == key).values(value=value)
    )
    if result.rowcount == 0 and not _insert_ignoring_conflict(
        session, _kv, {"account": account, "key": key, "value": value}, ["account", "key"]
    ):
        _exec(
            session,
            update(_kv).where(_kv.c.account == account, _kv.c.key == key).values(value=value),
        )
