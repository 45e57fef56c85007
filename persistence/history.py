"""The read side of the order database, for users, scripts and the CLI.

Everything returned is a frozen record, never an ORM row, so callers cannot write by accident
and records can cross threads. Each call opens its own short read transaction; on SQLite the
reader connection is `query_only` and, with WAL, never waits for the engine that is writing, so
a script polling the history cannot slow order entry down or see "database is locked".

A database that does not exist yet (or is empty) reads as "no orders": looking at the history
before the first engine run is not an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, Table, make_url, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from engine.errors import DatabaseError
from engine.kraken.codec import CodecError, decode
from persistence.db import UPGRADE_HINT, make_engine, schema_status
from persistence.models import LIVE_STATUSES, FillRow, OrderEventRow, OrderRow, SymbolSummaryRow
from persistence.types import canonical_decimal

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

    def close(self) -> None:
        """Release the connections of an engine this object created."""
        if self._owned and self._engine is not None:
            self._engine.dispose()
            self._engine = None

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
        query = select(_orders)
        words = _statuses(status)
        if words is not None:
            query = query.where(_orders.c.status.in_(words))
        for column, value in (
            (_orders.c.symbol, symbol),
            (_orders.c.side, side),
            (_orders.c.cl_ord_id, cl_ord_id),
            (_orders.c.order_userref, order_userref),
            (_orders.c.account, account),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(_orders.c.created_at >= since)
        if until is not None:
            query = query.where(_orders.c.created_at < until)
        query = query.order_by(_orders.c.created_at.desc(), _orders.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [] if conn is None else [_order(r) for r in conn.execute(query)]

    def open_orders(self, *, account: str | None = None) -> list[OrderRecord]:
        """Orders that may still be working on the exchange, newest first."""
        return self.orders(status="open", account=account)

    def order(self, key: int | str, *, account: str | None = None) -> OrderRecord | None:
        """One order by our id (int), Kraken `order_id`, or `cl_ord_id` (the newest if reused).

        A string of digits that matches no `order_id` or `cl_ord_id` is tried as our id.
        """
        with self._read() as conn:
            return None if conn is None else self._find(conn, key, account)

    def timeline(self, key: int | str, *, account: str | None = None) -> Timeline | None:
        """The order (as in `order`), its journal and its fills, read in one snapshot."""
        with self._read() as conn:
            if conn is None:
                return None
            order = self._find(conn, key, account)
            if order is None:
                return None
            events = conn.execute(
                select(_events).where(_events.c.order_pk == order.id).order_by(_events.c.id)
            )
            fills = conn.execute(
                select(_fills)
                .where(_fills.c.order_pk == order.id)
                .order_by(_fills.c.at, _fills.c.id)
            )
            return Timeline(order, [_event(r) for r in events], [_fill(r) for r in fills])

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
        """Fills matching every given filter, newest first (`since` inclusive, `until` not)."""
        query = select(_fills)
        for column, value in (
            (_fills.c.symbol, symbol),
            (_fills.c.order_id, order_id),
            (_fills.c.account, account),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(_fills.c.at >= since)
        if until is not None:
            query = query.where(_fills.c.at < until)
        query = query.order_by(_fills.c.at.desc(), _fills.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [] if conn is None else [_fill(r) for r in conn.execute(query)]

    def summary(self, *, account: str | None = None) -> list[SymbolSummary]:
        """Filled quantity, notional, average price and fees per (account, symbol, side)."""
        query: Select[Any] = select(_summaries)
        if account is not None:
            query = query.where(_summaries.c.account == account)
        query = query.order_by(_summaries.c.account, _summaries.c.symbol, _summaries.c.side)
        with self._read() as conn:
            return [] if conn is None else [_summary(r) for r in conn.execute(query)]

    # --- plumbing -----------------------------------------------------------------------------

    def _find(self, conn: Connection, key: int | str, account: str | None) -> OrderRecord | None:
        base = select(_orders)
        if account is not None:
            base = base.where(_orders.c.account == account)
        newest = (_orders.c.id.desc(),)
        candidates: list[Select[Any]] = []
        if isinstance(key, int):
            candidates.append(base.where(_orders.c.id == key))
        else:
            candidates.append(base.where(_orders.c.order_id == key))
            candidates.append(base.where(_orders.c.cl_ord_id == key))
            if key.isdigit():
                candidates.append(base.where(_orders.c.id == int(key)))
        for query in candidates:
            row = conn.execute(query.order_by(*newest).limit(1)).first()
            if row is not None:
                return _order(row)
        return None

    def _engine_or_none(self) -> Engine | None:
        if self._engine is None:
            if self._sqlite_file is not None and not self._sqlite_file.exists():
                return None  # nothing written yet; connecting would create the file
            assert self._url is not None
            self._engine = make_engine(self._url, readonly=True)
        return self._engine

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection | None]:
        engine = self._engine_or_none()
        if engine is None:
            yield None
            return
        if not self._schema_ok:
            status = schema_status(engine)
            if status.state == "empty":
                yield None
                return
            if status.state != "current":
                detail = {
                    "older": f"older than this code: {UPGRADE_HINT}",
                    "foreign": "not a kraken-router database (tables but no alembic revision)",
                    "newer_or_unknown": "at a revision this code does not know (newer?)",
                }[status.state]
                raise DatabaseError(f"order database {_safe(engine)} is {detail}")
            self._schema_ok = True
        try:
            with engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise DatabaseError(f"reading {_safe(engine)} failed: {exc}") from exc


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


def _order(row: Row[Any]) -> OrderRecord:
    return OrderRecord(
        id=row.id,
        account=row.account,
        order_id=row.order_id,
        cl_ord_id=row.cl_ord_id,
        order_userref=row.order_userref,
        symbol=row.symbol,
        side=row.side,
        order_type=row.order_type,
        order_qty=row.order_qty,
        limit_price=row.limit_price,
        status=row.status,
        cum_qty=row.cum_qty,
        avg_price=row.avg_price,
        fees=row.fees,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
        origin=row.origin,
        reason=row.reason,
        replaces_id=row.replaces_id,
    )


def _event(row: Row[Any]) -> EventRecord:
    try:
        raw = decode(row.raw) if row.raw else {}
    except CodecError:
        raw = {"unparsed": row.raw}
    return EventRecord(
        id=row.id,
        order_pk=row.order_pk,
        account=row.account,
        at=row.at,
        source=row.source,
        kind=row.kind,
        status_before=row.status_before,
        status_after=row.status_after,
        req_id=row.req_id,
        raw=raw,
    )


def _fill(row: Row[Any]) -> FillRecord:
    return FillRecord(
        id=row.id,
        account=row.account,
        order_pk=row.order_pk,
        order_id=row.order_id,
        exec_id=row.exec_id,
        trade_id=row.trade_id,
        symbol=row.symbol,
        side=row.side,
        price=row.price,
        qty=row.qty,
        cost=row.cost,
        fee=row.fee,
        fee_asset=row.fee_asset,
        liquidity_ind=row.liquidity_ind,
        at=row.at,
        source=row.source,
    )


def _summary(row: Row[Any]) -> SymbolSummary:
    avg = row.notional / row.filled_qty if row.filled_qty else None
    return SymbolSummary(
        account=row.account,
        symbol=row.symbol,
        side=row.side,
        filled_qty=row.filled_qty,
        notional=row.notional,
        avg_price=avg,
        fees=row.fees,
        fill_count=row.fill_count,
    )
