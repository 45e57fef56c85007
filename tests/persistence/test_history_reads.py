"""The read side's own path to the database: records identical to what SQLAlchemy's types
return, every filter combination, a History shared by threads, no read transaction left open
after a call, and recovery from a dropped PostgreSQL connection."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pg_support import PG_URL
from sqlalchemy import Engine, Table, create_engine, make_url, select, text

from engine.domain.reports import FillReport
from engine.errors import DatabaseError
from engine.kraken.codec import decode
from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker, upgrade
from persistence.history import (
    EventRecord,
    FillRecord,
    History,
    OrderRecord,
    SymbolSummary,
)
from persistence.models import (
    LIVE_STATUSES,
    FillRow,
    OrderEventRow,
    OrderRow,
    SymbolSummaryRow,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TINY = Decimal("0.000000012345678901")
BIG = Decimal("123456789012.123456789")
SYMBOLS = ("BTC/USD", "ETH/USD", "SOL/USD")
STATUSES = ("pending_submit", "new", "partially_filled", "filled", "canceled", "rejected")

_orders: Table = OrderRow.__table__  # type: ignore[assignment]
_events: Table = OrderEventRow.__table__  # type: ignore[assignment]
_fills: Table = FillRow.__table__  # type: ignore[assignment]
_summaries: Table = SymbolSummaryRow.__table__  # type: ignore[assignment]


@pytest.fixture
def book(engine: Engine, add_order: Callable[..., int]) -> list[int]:
    """Eighteen orders over two accounts, three symbols, both sides and six statuses, with
    awkward money and times; journal entries and fills on some of them."""
    plus_two = timezone(timedelta(hours=2))
    ids = []
    for i in range(18):
        created = T0 + timedelta(minutes=i // 2, microseconds=i * 1001)  # pairs share a minute
        ids.append(
            add_order(
                account="acct" if i % 3 else "other",
                symbol=SYMBOLS[i % 3],
                side="buy" if i % 2 else "sell",
                status=STATUSES[i % len(STATUSES)],
                created_at=created.astimezone(plus_two) if i % 4 == 0 else created,
                cl_ord_id=f"c{i}" if i % 5 else None,
                order_userref=i % 4 or None,
                order_id=f"O{i}" if i % 6 else None,
                order_qty=TINY if i % 2 else Decimal("1.50"),
                limit_price=None if i % 7 == 0 else BIG + i,
            )
        )
    with make_sessionmaker(engine)() as session:
        for n, pk in enumerate(ids[::3]):
            repo.update_order(
                session,
                pk,
                cum_qty=Decimal("0.25"),
                avg_price=Decimal("100.10"),
                fees=Decimal("1E-18"),
                closed_at=T0 + timedelta(hours=1, seconds=n),
                reason="because",
            )
            repo.append_event(
                session,
                account="acct",
                order_pk=pk,
                at=T0 + timedelta(seconds=n),
                source="executions",
                kind="trade",
                status_before="new",
                status_after="filled",
                raw={"price": Decimal("100.5"), "n": n},
                req_id=n,
            )
            repo.append_event(
                session, account="acct", order_pk=pk, at=T0, source="request", kind="intent"
            )
            i = 3 * n
            for k in range(2):
                fill = FillReport(
                    exec_id=f"X{pk}-{k}",
                    # the order's own Kraken id, as the engine books fills; an order still
                    # without one holds fills that name another (its id-to-be)
                    order_id=f"O{i}" if i % 6 else f"OX{pk}",
                    last_qty=Decimal("0.125"),
                    last_price=Decimal("100.10") + k,
                    timestamp=T0 + timedelta(seconds=n, microseconds=k),
                    fee=Decimal("0.0100"),
                    fee_asset="USD",
                    symbol=SYMBOLS[n % 3],
                    side="buy",
                )
                repo.insert_fill(session, account="acct", order_pk=pk, fill=fill)
        session.commit()
    return ids


def _reference(engine: Engine, table: Table, record: Any) -> list[Any]:
    """Records built from SQLAlchemy's own result processing (the previous read path)."""
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id))
        names = [f.name for f in fields(record)]
        return [record(**{n: row._mapping[n] for n in names}) for row in rows]


def _exact(records: list[Any]) -> list[str]:
    # repr shows every digit of a Decimal and the tzinfo of a datetime; == would not
    return [repr(r) for r in records]


def test_records_are_what_the_column_types_return(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    orders = sorted(h.orders(), key=lambda o: o.id)
    assert _exact(orders) == _exact(_reference(engine, _orders, OrderRecord))
    assert all(o.created_at.tzinfo is not None for o in orders)
    assert all(o.created_at.utcoffset() == timedelta(0) for o in orders)
    assert {type(o.order_qty) for o in orders} == {Decimal}

    fills = sorted(h.fills(), key=lambda f: f.id)
    assert len(fills) == 12
    assert _exact(fills) == _exact(_reference(engine, _fills, FillRecord))

    timeline = h.timeline(book[0])
    assert timeline is not None
    assert [e.kind for e in timeline.events] == ["trade", "intent"]
    assert timeline.events[0].raw == {"price": Decimal("100.5"), "n": 0}
    assert timeline.events[0].at == T0 and timeline.events[0].req_id == 0
    assert _exact(timeline.events) == _exact(_reference_events(engine, book[0]))
    assert _exact(timeline.fills) == _exact([f for f in fills if f.order_pk == book[0]])

    summaries = h.summary()
    with engine.connect() as conn:
        rows = conn.execute(select(_summaries).order_by(*_summaries.primary_key.columns)).all()
    assert [(s.account, s.symbol, s.side, s.fill_count) for s in summaries] == [
        (r.account, r.symbol, r.side, r.fill_count) for r in rows
    ]
    assert [repr((s.filled_qty, s.notional, s.fees)) for s in summaries] == [
        repr((r.filled_qty, r.notional, r.fees)) for r in rows
    ]
    assert all(s.avg_price == s.notional / s.filled_qty for s in summaries)
    assert all(isinstance(s, SymbolSummary) for s in summaries)


def _reference_events(engine: Engine, order_pk: int) -> list[EventRecord]:
    query = select(_events).where(_events.c.order_pk == order_pk).order_by(_events.c.id)
    with engine.connect() as conn:
        return [
            EventRecord(
                **{f.name: row._mapping[f.name] for f in fields(EventRecord) if f.name != "raw"},
                raw=decode(row.raw) if row.raw else {},
            )
            for row in conn.execute(query)
        ]


def test_every_filter_combination_of_orders(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    everything = h.orders()
    assert len(everything) == 18
    assert everything == sorted(everything, key=lambda o: (o.created_at, o.id), reverse=True)
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)
    choices: dict[str, list[Any]] = {
        "status": ["open", ["filled", "rejected"]],
        "symbol": ["ETH/USD"],
        "side": ["buy"],
        "account": ["acct"],
        "since": [since],
        "until": [until],
        "order_userref": [1],
        "limit": [3],
    }

    def keep(o: OrderRecord, filters: dict[str, Any]) -> bool:
        status = filters.get("status")
        words = LIVE_STATUSES if status == "open" else status
        return (
            (words is None or o.status in words)
            and all(
                getattr(o, name) == filters[name]
                for name in ("symbol", "side", "account", "order_userref")
                if name in filters
            )
            and ("since" not in filters or o.created_at >= filters["since"])
            and ("until" not in filters or o.created_at < filters["until"])
        )

    names = list(choices)
    checked = 0
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            for values in itertools.product(*(choices[n] for n in chosen)):
                filters = dict(zip(chosen, values, strict=True))
                expected = [o for o in everything if keep(o, filters)][: filters.get("limit")]
                assert h.orders(**filters) == expected, filters
                checked += 1
    assert checked == 384
    assert h.orders(cl_ord_id="c7") == [o for o in everything if o.cl_ord_id == "c7"]
    assert h.orders(status=[]) == []
    assert h.orders(limit=0) == []
    assert h.open_orders(account="other") == [
        o for o in everything if o.account == "other" and o.status in LIVE_STATUSES
    ]


def test_every_filter_combination_of_fills(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    everything = h.fills()
    ids = {o.id: o.order_id for o in h.orders()}  # each order's Kraken id, by our id
    assert everything == sorted(everything, key=lambda f: (f.at, f.id), reverse=True)
    assert everything[0].fee_asset == "USD"
    at = everything[5].at
    assert at is not None
    choices: dict[str, Any] = {
        "symbol": "ETH/USD",
        "since": at,
        "until": at + timedelta(seconds=2),
        "order_id": next(f.order_id for f in everything[3:] if not f.order_id.startswith("OX")),
        "account": "acct",
        "limit": 2,
    }
    for size in range(len(choices) + 1):
        for chosen in itertools.combinations(choices, size):
            filters = {n: choices[n] for n in chosen}
            expected = [
                f
                for f in everything
                if all(
                    getattr(f, n) == filters[n]
                    for n in ("symbol", "order_id", "account")
                    if n in filters
                )
                # by order_id: the fills booked on the order with that id (or waiting for it)
                and (
                    "order_id" not in filters or f.order_pk is None or ids[f.order_pk] == f.order_id
                )
                and ("since" not in filters or (f.at is not None and f.at >= filters["since"]))
                and ("until" not in filters or (f.at is not None and f.at < filters["until"]))
            ][: filters.get("limit")]
            assert h.fills(**filters) == expected, filters


def test_lookups_by_every_kind_of_key(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    by_id = {o.id: o for o in h.orders()}
    order = by_id[book[7]]
    assert order.order_id == "O7" and order.cl_ord_id == "c7"
    assert h.order(book[7]) == h.order(str(book[7])) == h.order("O7") == h.order("c7") == order
    assert h.order("O7", account="other") is None
    assert h.order("c7", account=order.account) == order
    assert h.order("missing") is None and h.timeline("missing") is None
    assert h.order(10**9) is None and h.order(str(10**9)) is None


def test_naive_datetimes_are_refused(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    with pytest.raises(DatabaseError, match="naive"):
        h.orders(since=datetime(2024, 5, 1))
    with pytest.raises(DatabaseError, match="naive"):
        h.fills(until=datetime(2024, 5, 1))
    assert len(h.orders()) == 18  # the failed call left nothing behind


def test_a_history_shared_by_threads(engine: Engine, book: list[int]) -> None:
    h = History(engine)
    expected = (h.orders(), h.open_orders(), h.timeline("O7"), h.fills(limit=5), h.summary())
    start = threading.Barrier(8)
    failures: list[BaseException] = []
    mismatches: list[int] = []

    def reader(n: int) -> None:
        try:
            start.wait()
            for _ in range(25):
                got = (h.orders(), h.open_orders(), h.timeline("O7"), h.fills(limit=5), h.summary())
                if got != expected:
                    mismatches.append(n)
        except BaseException as exc:  # reported below, with the thread's own traceback
            failures.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and mismatches == []


def test_a_fresh_history_shared_by_threads_opens_one_engine(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    writer = make_engine(url)
    ensure_schema(writer)
    h = History(url)
    start = threading.Barrier(6)
    seen: list[Any] = []

    def first_call() -> None:
        start.wait()
        h.orders()
        seen.append(h._engine)

    threads = [threading.Thread(target=first_call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and len({id(e) for e in seen}) == 1
    h.close()
    writer.dispose()


def _wal_checkpoint_truncate(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        return busy, log, done


def _add(engine: Engine, **kw: Any) -> int:
    fields_: dict[str, Any] = {
        "account": "acct",
        "symbol": "BTC/USD",
        "side": "buy",
        "order_type": "limit",
        "order_qty": Decimal(1),
        "limit_price": Decimal(100),
        "params": {},
        "status": "new",
        "created_at": T0,
        **kw,
    }
    with make_sessionmaker(engine)() as session:
        pk = repo.insert_order(session, **fields_)
        session.commit()
    return pk


@pytest.mark.parametrize("shared", [False, True], ids=["own engine", "writer's engine"])
def test_no_read_transaction_outlives_a_call(tmp_path: Any, shared: bool) -> None:
    # a reader that kept a snapshot open between calls would make TRUNCATE report busy
    url = f"sqlite:///{tmp_path}/wal.db"
    writer = make_engine(url)
    ensure_schema(writer)
    pk = _add(writer, order_id="OX", cl_ord_id="cx")
    h = History(writer) if shared else History(url)
    calls: list[Callable[[], Any]] = [
        h.orders,
        h.open_orders,
        lambda: h.orders(status="open", symbol="BTC/USD", limit=1),
        lambda: h.timeline("OX"),
        lambda: h.timeline("cx", account="acct"),
        lambda: h.order(pk),
        lambda: h.order("nothing"),
        h.fills,
        h.summary,
    ]
    for call in calls:
        _add(writer, created_at=T0 + timedelta(seconds=1))  # something new in the WAL
        call()
        assert _wal_checkpoint_truncate(writer) == (0, 0, 0), call
    with pytest.raises(DatabaseError):
        h.orders(since=datetime(2024, 1, 1))
    _add(writer)
    assert _wal_checkpoint_truncate(writer) == (0, 0, 0)
    h.close()
    writer.dispose()


def test_sqlite_time_text_not_written_by_sqlalchemy(tmp_path: Any) -> None:
    # the one-parse fast path is for SQLAlchemy's own fixed-width text; anything else goes
    # through the type's own processors, so the result is what the old read path gave
    url = f"sqlite:///{tmp_path}/odd.db"
    writer = make_engine(url)
    ensure_schema(writer)
    with make_sessionmaker(writer)() as session:
        pk = repo.insert_order(
            session,
            account="acct",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=Decimal(1),
            limit_price=None,
            params={},
            status="new",
            created_at=T0,
        )
        session.commit()
    with writer.begin() as conn:
        conn.execute(
            text("UPDATE orders SET created_at = :c, updated_at = :u WHERE id = :pk"),
            {"c": "2024-05-01 12:00:00", "u": "2024-05-01 12:00:00.5+0200", "pk": pk},
        )
    with History(url) as h:
        [order] = h.orders()
    [expected] = _reference(writer, _orders, OrderRecord)
    assert repr(order) == repr(expected)
    assert order.created_at == T0
    assert order.updated_at == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    writer.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[tuple[str, Engine]]:
    name = f"kr-history-{uuid.uuid4().hex[:8]}"
    url = make_url(pg_url).update_query_dict({"application_name": name})
    engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    yield name, engine
    engine.dispose()


def test_postgresql_connection_dropped_between_calls(pg_engine: tuple[str, Engine]) -> None:
    name, engine = pg_engine
    h = History(engine)
    assert h.orders() == []
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).all()
        assert killed and all(ok for (ok,) in killed)
    finally:
        admin.dispose()
    with pytest.raises(DatabaseError, match="reading"):
        h.orders()
    assert h.orders() == [] and h.timeline("x") is None  # the dead connection was discarded
