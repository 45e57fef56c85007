"""The read side: every filter of `History.orders`, timelines, fills, summaries, and a reader
that never sees "database is locked" while the engine writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from engine.domain.reports import FillReport
from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.history import ORDER_JSON_KEYS, History
from persistence.models import FillRow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def book(engine: Engine, add_order: Callable[..., int]) -> dict[str, int]:
    ids = {
        "a": add_order(created_at=at(0), cl_ord_id="ca", order_id="OA", status="filled"),
        "b": add_order(created_at=at(1), symbol="ETH/USD", side="sell", status="new"),
        "c": add_order(created_at=at(2), order_userref=7, status="pending_submit"),
        "d": add_order(created_at=at(3), cl_ord_id="cd", status="canceled", side="sell"),
        "e": add_order(created_at=at(4), account="other", status="partially_filled"),
    }
    with make_sessionmaker(engine)() as session:
        for kind, after in (("intent", "pending_submit"), ("ack", "new"), ("filled", "filled")):
            repo.append_event(
                session,
                account="acct",
                order_pk=ids["a"],
                at=at(0),
                source="executions",
                kind=kind,
                status_after=after,
                raw={"price": Decimal("100.5")},
            )
        for n, qty in enumerate((Decimal("0.25"), Decimal("0.75"))):
            fill = FillReport(
                exec_id=f"X{n}",
                order_id="OA",
                last_qty=qty,
                last_price=Decimal("100") + n,
                timestamp=at(n),
                fee=Decimal("0.01"),
            )
            repo.insert_fill(session, account="acct", order_pk=ids["a"], fill=fill)
        session.commit()
    return ids


def test_orders_filters(engine: Engine, book: dict[str, int]) -> None:
    h = History(engine)

    def ids(**kw: object) -> list[int]:
        return [o.id for o in h.orders(**kw)]  # type: ignore[arg-type]

    b = book
    assert ids() == [b["e"], b["d"], b["c"], b["b"], b["a"]]
    assert ids(status="open") == [b["e"], b["c"], b["b"]]
    assert ids(status=["filled", "canceled"]) == [b["d"], b["a"]]
    assert ids(symbol="ETH/USD") == [b["b"]]
    assert ids(side="sell") == [b["d"], b["b"]]
    assert ids(since=at(1), until=at(3)) == [b["c"], b["b"]]
    assert ids(cl_ord_id="cd") == [b["d"]]
    assert ids(order_userref=7) == [b["c"]]
    assert ids(account="other") == [b["e"]]
    assert ids(limit=2) == [b["e"], b["d"]]
    assert ids(status="open", account="acct") == [o.id for o in h.open_orders(account="acct")]
    record = h.orders(cl_ord_id="ca")[0]
    assert list(record.to_json_dict()) == list(ORDER_JSON_KEYS)
    assert record.to_json_dict()["order_qty"] == "1"
    assert record.to_json_dict()["created_at"] == "2024-05-01T12:00:00Z"


def test_order_lookup_and_timeline(engine: Engine, book: dict[str, int]) -> None:
    h = History(engine)
    a = book["a"]
    assert h.order(a) == h.order(str(a)) == h.order("OA") == h.order("ca")
    assert h.order("missing") is None
    timeline = h.timeline("OA")
    assert timeline is not None
    assert [e.kind for e in timeline.events] == ["intent", "ack", "filled"]
    assert timeline.events[0].raw == {"price": Decimal("100.5")}
    assert [f.exec_id for f in timeline.fills] == ["X0", "X1"]
    doc = timeline.to_json_dict()
    assert doc["order"]["order_id"] == "OA" and doc["fills"][1]["last_price"] == "101"


def test_fills_and_summary(engine: Engine, book: dict[str, int]) -> None:
    h = History(engine)
    assert [f.exec_id for f in h.fills()] == ["X1", "X0"]
    assert [f.exec_id for f in h.fills(since=at(1))] == ["X1"]
    assert h.fills(symbol="ETH/USD") == []
    assert [f.exec_id for f in h.fills(order_id="OA", account="acct")] == ["X1", "X0"]
    assert [f.exec_id for f in h.fills(order_id="OA")] == ["X1", "X0"]
    assert h.fills(order_id="OA", account="other") == []
    assert h.fills(order_id="OB") == []
    [summary] = h.summary()
    assert (summary.symbol, summary.side, summary.filled_qty, summary.fill_count) == (
        "BTC/USD",
        "buy",
        Decimal("1.00"),
        2,
    )
    assert summary.notional == Decimal("100.75")
    assert summary.avg_price == Decimal("100.75")
    assert summary.fees == Decimal("0.02")
    assert h.summary(account="other") == []


def test_fills_by_order_id_include_those_that_wait_for_their_order(
    engine: Engine, book: dict[str, int]
) -> None:
    # a fill read before any order row had its Kraken id is recorded without an order (and
    # found through the partial index); the booked ones through their order's row
    with make_sessionmaker(engine)() as session:
        waiting = FillReport(exec_id="XW", order_id="OA", last_qty=Decimal("0.1"),
                             last_price=Decimal("99"), timestamp=at(5), fee=Decimal("0"),
                             symbol="BTC/USD", side="buy")  # fmt: skip
        stranger = FillReport(exec_id="XS", order_id="OZ", last_qty=Decimal("0.1"),
                              last_price=Decimal("99"), timestamp=at(6), fee=Decimal("0"),
                              symbol="BTC/USD", side="buy")  # fmt: skip
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=waiting)
        repo.insert_fill(session, account="acct", order_pk=None, fill=stranger)
        session.execute(update(FillRow).where(FillRow.exec_id == "XW").values(order_pk=None))
        session.commit()
    h = History(engine)
    assert [f.exec_id for f in h.fills(order_id="OA")] == ["XW", "X1", "X0"]
    assert [f.exec_id for f in h.fills(order_id="OA", account="acct", limit=2)] == ["XW", "X1"]
    assert [f.exec_id for f in h.fills(order_id="OZ", account="acct")] == ["XS"]
    assert h.fills(order_id="OZ", account="other") == []


def test_missing_and_empty_databases_read_as_empty(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-yet.db"
    with History(f"sqlite:///{missing}") as h:
        assert h.orders() == [] and h.fills() == [] and h.order("x") is None
    assert not missing.exists()
    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    with empty.connect():
        pass
    assert History(empty).orders() == []


_READER = textwrap.dedent(
    """
    import sys
    from persistence.history import History
    h = History(sys.argv[1])
    seen = 0
    for _ in range(int(sys.argv[2])):
        orders = h.orders(limit=5)
        if orders:
            h.timeline(orders[0].id)
        h.summary()
        seen = max(seen, len(h.orders(status="open", limit=50)))
    print("reader done", seen)
    """
)


def test_reader_process_never_sees_database_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/busy.db"
    engine = make_engine(url)
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, url, "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    written = 0
    with sessions() as session:
        while reader.poll() is None and written < 100_000:
            pk = repo.insert_order(
                session,
                account="acct",
                symbol="BTC/USD",
                side="buy",
                order_type="limit",
                order_qty=Decimal("0.1"),
                limit_price=Decimal("100"),
                params={},
                status="pending_submit",
                created_at=datetime.now(UTC),
            )
            repo.append_event(
                session,
                account="acct",
                order_pk=pk,
                at=datetime.now(UTC),
                source="request",
                kind="intent",
            )
            session.commit()
            written += 1
    out, err = reader.communicate(timeout=60)
    engine.dispose()
    assert reader.returncode == 0, err
    assert "locked" not in err and "reader done" in out
    assert written > 0
