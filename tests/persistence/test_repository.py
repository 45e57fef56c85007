"""The write side: exact money and times, redaction, idempotent fills, summaries, runs, kv."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from engine.domain.reports import FillReport
from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.models import FillRow, OrderEventRow, OrderRow, SymbolSummaryRow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TINY = Decimal("0.000000012345678901")
BIG = Decimal("123456789012.123456789")


def test_decimals_and_times_survive_exactly(engine: Engine, add_order: Callable[..., int]) -> None:
    plus_two = timezone(timedelta(hours=2))
    pk = add_order(
        order_qty=TINY, limit_price=BIG, created_at=datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)
    )
    with make_sessionmaker(engine)() as session:
        repo.update_order(session, pk, cum_qty=TINY, avg_price=BIG, fees=Decimal("1E-18"))
        session.commit()
        row = repo.find_order(session, "acct", order_pk=pk)
    assert row is not None
    assert (row.order_qty, row.limit_price, row.cum_qty, row.avg_price) == (TINY, BIG, TINY, BIG)
    assert row.fees == Decimal("0.000000000000000001")
    assert isinstance(row.order_qty, Decimal)
    assert row.created_at == T0 and row.created_at.utcoffset() == timedelta(0)
    assert row.updated_at.tzinfo is not None


def test_naive_datetimes_and_floats_are_refused(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session, pytest.raises(Exception, match=r"naive|Decimal"):
        repo.insert_order(
            session,
            account="acct",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=Decimal(1),
            limit_price=None,
            params={},
            status="pending_submit",
            created_at=datetime(2024, 1, 1),
        )


def test_redact_removes_secrets_at_any_depth() -> None:
    raw = {
        "method": "add_order",
        "params": {"token": "T", "wsToken": "T", "order_qty": 1.5, "nested": [{"api_secret": 1}]},
        "API-Sign": "S",
        "at": T0,
    }
    assert repo.redact(raw) == {
        "method": "add_order",
        "params": {"order_qty": Decimal("1.5"), "nested": [{}]},
        "at": "2024-05-01T12:00:00+00:00",
    }


def test_no_token_reaches_the_sqlite_file(sqlite_url: str) -> None:
    secret = "SECRET-TOKEN-0123456789"
    engine = make_engine(sqlite_url)
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        pk = repo.insert_order(
            session,
            account="acct",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=Decimal(1),
            limit_price=Decimal(2),
            params={"token": secret, "symbol": "BTC/USD"},
            status="pending_submit",
            created_at=T0,
        )
        repo.append_event(
            session,
            account="acct",
            order_pk=pk,
            at=T0,
            source="request",
            kind="sent",
            raw={"method": "add_order", "params": {"token": secret}},
            req_id=7,
        )
        session.commit()
    engine.dispose()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in path.parent.glob("orders.db*"))
    assert secret.encode() not in data
    assert b"BTC/USD" in data


def test_fill_replay_changes_nothing(engine: Engine, add_order: Callable[..., int]) -> None:
    pk = add_order(order_id="OAAA-1", status="partially_filled")
    fill = FillReport(
        exec_id="T1",
        order_id="OAAA-1",
        last_qty=Decimal("0.5"),
        last_price=Decimal("100.1"),
        timestamp=T0,
        fee=Decimal("0.01"),
        fee_asset="USD",
        liquidity_ind="m",
        trade_id=12,
    )
    second = FillReport(exec_id="T2", order_id="OAAA-1", last_qty=TINY, last_price=BIG)
    sessions = make_sessionmaker(engine)

    def snapshot() -> tuple[int, list[tuple[object, ...]]]:
        with sessions() as session:
            count = session.scalar(select(func.count()).select_from(FillRow))
            rows = session.execute(
                select(
                    SymbolSummaryRow.filled_qty,
                    SymbolSummaryRow.notional,
                    SymbolSummaryRow.fees,
                    SymbolSummaryRow.fill_count,
                )
            ).all()
            return int(count or 0), [tuple(r) for r in rows]

    with sessions() as session:
        # symbol and side come from the order row; the order is found by order_id
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=fill) is True
        assert repo.insert_fill(session, account="acct", order_pk=pk, fill=second) is True
        session.commit()
    before = snapshot()
    assert before == (
        2,
        [(Decimal("0.5") + TINY, Decimal("50.05") + TINY * BIG, Decimal("0.01"), 2)],
    )
    with sessions() as session:
        assert repo.insert_fill(session, account="acct", order_pk=pk, fill=fill) is False
        assert repo.insert_fill(session, account="acct", order_pk=pk, fill=second) is False
        session.commit()
    assert snapshot() == before
    with sessions() as session:
        stored = session.scalars(select(FillRow).where(FillRow.exec_id == "T1")).one()
        assert (stored.order_pk, stored.symbol, stored.side) == (pk, "BTC/USD", "buy")
        assert stored.cost == Decimal("50.05") and stored.at == T0 and stored.trade_id == 12


def test_find_order_and_live_orders(engine: Engine, add_order: Callable[..., int]) -> None:
    first = add_order(cl_ord_id="c-1", status="canceled")
    latest = add_order(cl_ord_id="c-1", status="new", order_id="O-2")
    add_order(cl_ord_id="c-3", status="filled")
    pending = add_order(cl_ord_id="c-4", status="pending_submit")
    add_order(account="other", cl_ord_id="c-1", status="new")
    with make_sessionmaker(engine)() as session:
        found = repo.find_order(session, "acct", cl_ord_id="c-1")
        assert found is not None and found.id == latest
        by_id = repo.find_order(session, "acct", order_id="O-2")
        assert by_id is not None and by_id.id == latest
        assert repo.find_order(session, "acct", order_pk=first) is not None
        assert repo.find_order(session, "acct", order_id="nope") is None
        assert [o.id for o in repo.live_orders(session, "acct")] == [latest, pending]
        repo.update_order(session, pending, status="not_sent", reason="queue timeout")
        assert [o.id for o in repo.live_orders(session, "acct")] == [latest]
        with pytest.raises(ValueError):
            repo.update_order(session, pending, no_such_column=1)
        with pytest.raises(LookupError):
            repo.update_order(session, 999_999, status="new")


def test_edit_links_to_the_original(engine: Engine, add_order: Callable[..., int]) -> None:
    original = add_order(order_id="O-ORIG")
    edited = add_order(order_id="O-NEW", replaces_id=original)
    with make_sessionmaker(engine)() as session:
        row = repo.find_order(session, "acct", order_pk=edited)
        assert row is not None and row.replaces_id == original


def test_events_runs_reconciliations_and_kv(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        run = repo.start_run(session, account="acct", host="h", pid=42, at=T0, version="0.1.0")
        repo.update_run(session, run, state="running", dms_trigger_at=T0, connection_state="up")
        recon = repo.start_reconciliation(
            session, account="acct", run_id=run, at=T0, reason="start"
        )
        repo.finish_reconciliation(
            session, recon, at=T0, outcome="ok", changed=3, summary={"token": "x", "n": 3}
        )
        repo.append_event(
            session, account="acct", order_pk=None, at=T0, source="request", kind="validate"
        )
        assert repo.get_kv(session, "acct", "nonce") is None
        repo.set_kv(session, "acct", "nonce", "1")
        repo.set_kv(session, "acct", "nonce", "2")
        session.commit()
        assert repo.get_kv(session, "acct", "nonce") == "2"
        state, trigger = session.execute(
            text("SELECT state, connection_state FROM engine_runs WHERE id = :id"), {"id": run}
        ).one()
        assert (state, trigger) == ("running", "up")
        summary = session.execute(text("SELECT summary FROM reconciliations")).scalar_one()
        assert summary == '{"n":3}'
        events = session.scalars(select(OrderEventRow)).all()
        assert [(e.order_pk, e.kind, e.raw) for e in events] == [(None, "validate", "{}")]
        assert session.scalar(select(func.count()).select_from(OrderRow)) == 0


def test_fills_recorded_without_an_order_are_claimed_once(
    engine: Engine, add_order: Callable[..., int]
) -> None:
    sessions = make_sessionmaker(engine)
    early = FillReport(exec_id="TEARLY", order_id="OLATE-1", last_qty=TINY, last_price=BIG,
                       timestamp=T0, fee=Decimal("0.02"), symbol="BTC/USD", side="buy")  # fmt: skip
    with sessions() as session:
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=early)
        session.commit()
    with sessions() as session:
        assert repo.unlinked_fill_order_ids(session, "acct") == {"OLATE-1"}
        assert repo.unlinked_fill_order_ids(session, "other") == set()
    pk = add_order(order_id="OLATE-1")
    with sessions() as session:
        [claimed] = repo.claim_fills(session, "acct", "OLATE-1", pk)
        session.commit()
    assert (
        claimed.exec_id,
        claimed.last_qty,
        claimed.last_price,
        claimed.fee,
        claimed.timestamp,
    ) == ("TEARLY", TINY, BIG, Decimal("0.02"), T0)
    with sessions() as session:
        assert session.scalar(select(FillRow.order_pk).where(FillRow.exec_id == "TEARLY")) == pk
        assert repo.unlinked_fill_order_ids(session, "acct") == set()
        assert repo.claim_fills(session, "acct", "OLATE-1", pk) == []  # once
