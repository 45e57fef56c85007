"""The tables: orders and their append-only journal, fills, per-symbol summaries, engine runs,
reconciliation runs and a small key-value store.

Statuses are kept as the words of the contract's status vocabulary (the same words the CLI prints),
enforced by CHECK constraints so a typo in a writer fails loudly instead of hiding an order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from persistence.base import Base

__all__ = [
    "EVENT_SOURCES",
    "LIVE_STATUSES",
    "ORDER_STATUSES",
    "RUN_STATES",
    "EngineRunRow",
    "FillRow",
    "KvStateRow",
    "OrderEventRow",
    "OrderRow",
    "ReconciliationRow",
    "SymbolSummaryRow",
]

LIVE_STATUSES = ("pending_submit", "submitted", "pending_new", "new", "partially_filled")
ORDER_STATUSES = (*LIVE_STATUSES, "filled", "canceled", "expired", "rejected", "not_sent")
EVENT_SOURCES = ("request", "acknowledgement", "executions", "reconciliation", "operator")
RUN_STATES = ("starting", "running", "stopping", "stopped", "crashed")


def _one_of(column: str, words: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(w) for w in words)})"


class EngineRunRow(Base):
    """One engine process's life; heartbeats and dead man's switch times for operators."""

    __tablename__ = "engine_runs"
    __table_args__ = (
        CheckConstraint(_one_of("state", RUN_STATES), name="state"),
        Index("ix_engine_runs_account_started_at", "account", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    heartbeat_at: Mapped[datetime | None]
    connection_state: Mapped[str | None] = mapped_column(String(32))
    dms_armed_at: Mapped[datetime | None]
    dms_trigger_at: Mapped[datetime | None]
    version: Mapped[str] = mapped_column(String(64))


class OrderRow(Base):
    """One order as this engine knows it; an edited order is a new row pointing at the original."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_one_of("origin", ("engine", "external")), name="origin"),
        # cl_ord_id first: the CLI and History look an order up by it without an account too
        Index("ix_orders_cl_ord_id_account", "cl_ord_id", "account"),
        Index("ix_orders_account_symbol_created_at", "account", "symbol", "created_at"),
        Index("ix_orders_account_status", "account", "status"),
        Index("ix_orders_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # indexed through the composite indexes that lead with it (one b-tree less per insert)
    account: Mapped[str] = mapped_column(String(128))
    cl_ord_id: Mapped[str | None] = mapped_column(String(64))
    order_userref: Mapped[int | None]
    order_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(32))
    order_qty: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    params: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    cum_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cum_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    avg_price: Mapped[Decimal | None]
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    reason: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16), default="engine")
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    engine_run_id: Mapped[int | None] = mapped_column(ForeignKey("engine_runs.id"))
    deadline: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class OrderEventRow(Base):
    """The append-only journal: every request, answer and report that touched an order."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint(_one_of("source", EVENT_SOURCES), name="source"),
        Index("ix_order_events_order_pk_id", "order_pk", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    status_before: Mapped[str | None] = mapped_column(String(20))
    status_after: Mapped[str | None] = mapped_column(String(20))
    req_id: Mapped[int | None]
    raw: Mapped[str] = mapped_column(Text)


class FillRow(Base):
    """One execution; `(account, exec_id)` is unique so a replayed report changes nothing."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("account", "exec_id"),
        Index("ix_fills_account_symbol_at", "account", "symbol", "at"),
        # the newest fills first, whatever the symbol: `kraken-router fills` and any `since`
        # without a symbol (see migration 0005)
        Index("ix_fills_at", "at"),
        Index("ix_fills_order_pk", "order_pk"),
        # only the fills that wait for their order (recorded before any order row had their
        # Kraken id; `claim_fills` looks them up): an index of every fill's order_id was a third
        # per-order index, and each fill dirtied one more B-tree leaf per transaction. Every
        # other fill is found by its order's pk (`History.fills(order_id=...)` goes that way)
        Index(
            "ix_fills_unlinked_order_id",
            "order_id",
            "account",
            sqlite_where=text("order_pk IS NULL"),
            postgresql_where=text("order_pk IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    order_id: Mapped[str] = mapped_column(String(64))
    exec_id: Mapped[str] = mapped_column(String(64))
    trade_id: Mapped[int | None] = mapped_column(BigInteger)
    symbol: Mapped[str | None] = mapped_column(String(32))
    side: Mapped[str | None] = mapped_column(String(8))
    price: Mapped[Decimal]
    qty: Mapped[Decimal]
    cost: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_asset: Mapped[str | None] = mapped_column(String(16))
    liquidity_ind: Mapped[str | None] = mapped_column(String(4))
    at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16))


class SymbolSummaryRow(Base):
    """Running totals per (account, symbol, side), updated with each new fill in Python Decimal."""

    __tablename__ = "symbol_summaries"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    side: Mapped[str] = mapped_column(String(8), primary_key=True)
    filled_qty: Mapped[Decimal]
    notional: Mapped[Decimal]
    fees: Mapped[Decimal]
    fill_count: Mapped[int]


class ReconciliationRow(Base):
    """One reconciliation pass: why it ran, how it ended, how many orders it changed."""

    __tablename__ = "reconciliations"
    __table_args__ = (
        CheckConstraint("outcome IS NULL OR outcome IN ('ok', 'failed')", name="outcome"),
        Index("ix_reconciliations_account_started_at", "account", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("engine_runs.id"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(8))
    changed: Mapped[int] = mapped_column(default=0)
    summary: Mapped[str | None] = mapped_column(Text)


class KvStateRow(Base):
    """Small durable facts per account (last REST nonce, last sync time) as text."""

    __tablename__ = "kv_state"

    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# registered on the same metadata so migrations and `alembic check` see it
from persistence import control as _control  # noqa: E402, F401
