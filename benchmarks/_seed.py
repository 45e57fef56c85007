"""Seed an order history quickly: terminal orders inserted in big transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert

from persistence import repository
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.models import FillRow, OrderEventRow, OrderRow

__all__ = ["SYMBOLS", "bulk_history", "repository_history"]

SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD")
_TERMINAL = ("filled", "canceled", "expired", "rejected")
_START = datetime(2024, 1, 1, tzinfo=UTC)


def _schema(database: Path) -> Any:
    engine = make_engine(f"sqlite:///{database}")
    ensure_schema(engine)
    return engine


def repository_history(database: Path, account: str, count: int, chunk: int = 20_000) -> None:
    """`count` terminal orders through `persistence.repository.insert_order`, `chunk` per
    transaction."""
    engine = _schema(database)
    sessions = make_sessionmaker(engine)
    try:
        done = 0
        while done < count:
            with sessions() as session, session.begin():
                for i in range(done, min(count, done + chunk)):
                    at = _START + timedelta(seconds=i)
                    repository.insert_order(
                        session,
                        account=account,
                        symbol=SYMBOLS[i % len(SYMBOLS)],
                        side="buy" if i % 2 else "sell",
                        order_type="limit",
                        order_qty=Decimal("0.01"),
                        limit_price=Decimal(1000 + i % 1000),
                        params={},
                        status=_TERMINAL[i % len(_TERMINAL)],
                        created_at=at,
                        cl_ord_id=f"hist-{i:09d}",
                        order_id=f"OHIST-{i:09d}",
                    )
            done = min(count, done + chunk)
    finally:
        engine.dispose()


def bulk_history(database: Path, account: str, count: int, *, live: int = 50,
                 chunk: int = 50_000) -> None:  # fmt: skip
    """`count` orders by Core bulk insert (executemany): the newest `live` are open, the rest
    terminal; each order has an intent and a final journal entry, every fourth one a fill."""
    engine = _schema(database)
    orders: Table = OrderRow.__table__  # type: ignore[assignment]
    events: Table = OrderEventRow.__table__  # type: ignore[assignment]
    fills: Table = FillRow.__table__  # type: ignore[assignment]
    try:
        for first in range(0, count, chunk):
            order_rows, event_rows, fill_rows = [], [], []
            for i in range(first, min(count, first + chunk)):
                at = _START + timedelta(seconds=i)
                status = "new" if i >= count - live else _TERMINAL[i % len(_TERMINAL)]
                price = Decimal(1000 + i % 1000)
                order_rows.append({
                    "id": i + 1, "account": account, "cl_ord_id": f"hist-{i:09d}",
                    "order_userref": None, "order_id": f"OHIST-{i:09d}",
                    "symbol": SYMBOLS[i % len(SYMBOLS)], "side": "buy", "order_type": "limit",
                    "order_qty": Decimal("0.01"), "limit_price": price, "params": "{}",
                    "status": status, "cum_qty": Decimal(0), "cum_cost": Decimal(0),
                    "avg_price": None, "fees": Decimal(0), "reason": None, "origin": "engine",
                    "replaces_id": None, "engine_run_id": None, "deadline": None,
                    "created_at": at, "sent_at": at, "acknowledged_at": at, "updated_at": at,
                    "closed_at": None if status == "new" else at,
                })  # fmt: skip
                for kind, after in (("intent", "pending_submit"), ("ack", status)):
                    event_rows.append({
                        "account": account, "order_pk": i + 1, "at": at, "source": "request",
                        "kind": kind, "status_before": None, "status_after": after,
                        "req_id": None, "raw": "{}",
                    })  # fmt: skip
                if i % 4 == 0:
                    fill_rows.append({
                        "account": account, "order_pk": i + 1, "order_id": f"OHIST-{i:09d}",
                        "exec_id": f"THIST-{i:09d}", "trade_id": i, "symbol": "BTC/USD",
                        "side": "buy", "price": price, "qty": Decimal("0.01"),
                        "cost": price / 100, "fee": Decimal("0.01"), "fee_asset": "USD",
                        "liquidity_ind": "m", "at": at, "source": "executions",
                    })  # fmt: skip
            with engine.begin() as connection:
                connection.execute(insert(orders), order_rows)
                connection.execute(insert(events), event_rows)
                if fill_rows:
                    connection.execute(insert(fills), fill_rows)
    finally:
        engine.dispose()
