"""The write path's shortcuts give exactly what the general code gives: the journal's JSON,
SQLite's bind processors, and a raw message shared by several journal entries."""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite

from engine.domain.reports import FillReport
from engine.kraken.codec import CodecError, encode
from persistence import repository as repo
from persistence.db import make_sessionmaker
from persistence.models import FillRow, OrderEventRow, OrderRow
from persistence.types import DecimalText, UtcDateTime, canonical_decimal

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Side(enum.Enum):
    BUY = "buy"


class Word(enum.StrEnum):
    NEW = "new"


RAWS: list[Any] = [
    {},
    [],
    {"a": None, "b": True, "c": False, "d": 0, "e": -7, "f": 10**30},
    {"price": Decimal("26500.40"), "qty": Decimal("1E+2"), "tiny": Decimal("1E-18")},
    {"zero": Decimal("-0"), "zero1": Decimal("-0.0"), "zero2": Decimal("-0.00"), "z": Decimal(0)},
    {"exp": Decimal("0E-8"), "big": Decimal("1.23E+5"), "neg": Decimal("-5E-7")},
    {"text": 'quote " back \\ newline \n tab \t unicode é 中 \x00 \u2028'},
    {"token": "T", "wsToken": "T", "api_secret": "S", "API-Sign": "S", "otp": 1, "ok": 1},
    {"params": {"token": "T", "nested": [{"signature": "x", "keep": [1, {"password": 2}]}]}},
    {"fees": [{"asset": "USD", "qty": Decimal("0.0026")}], "trade_id": 12, "amended": False},
    {"tuple": (1, "a", Decimal("2.5")), "set": {3, 1, 2}, "frozen": frozenset({"b", "a"})},
    {"float": 1.5, "at": T0, "day": date(2024, 5, 1), "side": Side.BUY, "word": Word.NEW},
    {"aware": datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))},
    {1: "int key", "1": "str key"},
    {"outer": {2: "x", "secret": "y"}, "after": "z"},
    {Word.NEW: "enum key", "other": 1},
    {"object": object.__name__, "bytes": b"x", "complex": 1j},
    [{"token": "T"}, {"ok": 1}],
]


@pytest.mark.parametrize("raw", RAWS, ids=range(len(RAWS)))
def test_journal_json_is_encode_of_redact(raw: Any) -> None:
    assert repo._json(raw) == encode(repo.redact(raw))
    json.loads(repo._json(raw))  # and it is JSON


def test_journal_json_of_none_and_refusals() -> None:
    assert repo._json(None) == "{}"
    for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(CodecError):
            repo._json({"x": bad})
        with pytest.raises(CodecError):
            encode(repo.redact({"x": bad}))


def test_journal_json_of_many_decimals_matches_codec() -> None:
    values = [Decimal(f"{sign}{digits}E{exp}") for sign in ("", "-")
              for digits in ("0", "1", "12345", "100", "7.250")
              for exp in range(-12, 12)]  # fmt: skip
    raw = {f"k{i}": value for i, value in enumerate(values)}
    assert repo._json(raw) == encode(repo.redact(raw))


def _processors(column_type: Any) -> tuple[Any, Any]:
    dialect = sqlite.dialect(paramstyle="qmark")
    fast = repo._bind_processor(column_type, dialect)
    generic = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None and generic is not None and fast is not generic
    return fast, generic


def test_sqlite_money_processor_matches_the_generic_one() -> None:
    fast, generic = _processors(DecimalText())
    values = [Decimal(f"{sign}{digits}E{exp}") for sign in ("", "-")
              for digits in ("0", "1", "12345", "100", "7.250")
              for exp in range(-20, 20)]  # fmt: skip
    for value in [*values, *values, 0, 5, -3, None, True]:  # twice: once cached
        assert fast(value) == generic(value), value
    assert fast(Decimal("1.50")) == fast(Decimal("1.5")) == "1.5"
    for bad in (1.5, "1", Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")):
        with pytest.raises((TypeError, ValueError)):
            generic(bad)
        with pytest.raises((TypeError, ValueError)):
            fast(bad)


def test_sqlite_time_processor_matches_the_generic_one() -> None:
    fast, generic = _processors(UtcDateTime())
    plus_two = timezone(timedelta(hours=2))
    values = [T0, T0 + timedelta(microseconds=1), datetime(1, 1, 1, tzinfo=UTC),
              datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
              datetime(2024, 5, 1, 14, 0, tzinfo=plus_two), None]  # fmt: skip
    for value in [*values, *reversed(values), T0, T0]:
        assert fast(value) == generic(value), value
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        fast("2024-01-01")


def test_a_raw_shared_by_two_entries_is_stored_in_both(engine: Engine) -> None:
    shared = {"exec_id": "T1", "last_qty": Decimal("0.5"), "token": "T"}
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        pk = repo.insert_order(
            session,
            account="acct",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=Decimal(1),
            limit_price=Decimal(2),
            params={},
            status="new",
            created_at=T0,
        )
        entry = {"account": "acct", "order_pk": pk, "at": T0, "source": "executions"}
        repo.append_events(
            session,
            [
                {**entry, "kind": "trade", "raw": shared},
                {**entry, "kind": "fill", "raw": shared},
                {**entry, "kind": "other", "raw": {"exec_id": "T2"}},
                {**entry, "kind": "none"},
            ],
        )
    with sessions() as session:
        rows = session.execute(
            select(OrderEventRow.kind, OrderEventRow.raw, OrderEventRow.at).order_by(
                OrderEventRow.id
            )
        ).all()
        order = session.scalars(select(OrderRow)).one()
    assert [(kind, json.loads(raw)) for kind, raw, _ in rows] == [
        ("trade", {"exec_id": "T1", "last_qty": 0.5}),
        ("fill", {"exec_id": "T1", "last_qty": 0.5}),
        ("other", {"exec_id": "T2"}),
        ("none", {}),
    ]
    assert all(at == T0 for _, _, at in rows) and order.created_at == T0


def test_fills_follow_the_sessions_transactions(engine: Engine) -> None:
    """The connection remembered for a transaction is never used by the next one."""

    def fill(exec_id: str) -> FillReport:
        return FillReport(
            exec_id=exec_id,
            order_id="O-1",
            last_qty=Decimal("0.5"),
            last_price=Decimal("100"),
            timestamp=T0,
            symbol="BTC/USD",
            side="buy",
        )

    sessions = make_sessionmaker(engine)
    session = sessions()
    with session.begin():
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=fill("A"))
    with session.begin():
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=fill("B"))
        session.rollback()
    with session.begin():
        nested = session.begin_nested()
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=fill("C"))
        nested.rollback()
        assert repo.insert_fill(session, account="acct", order_pk=None, fill=fill("D"))
        assert not repo.insert_fill(session, account="acct", order_pk=None, fill=fill("A"))
    session.close()
    with sessions() as other, other.begin():
        assert repo.insert_fill(other, account="acct", order_pk=None, fill=fill("E"))
    with sessions() as reader:
        stored = reader.scalars(select(FillRow.exec_id).order_by(FillRow.exec_id)).all()
    assert stored == ["A", "D", "E"]


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_canonical_money_text_is_the_normalized_value_written_positionally(value: Decimal) -> None:
    # normalize() rounds to the context's precision: give it every digit, the text is exact
    with localcontext(prec=len(value.as_tuple().digits) + 1):
        expected = "0" if value.is_zero() else format(value.normalize(), "f")
    assert canonical_decimal(value) == expected
    assert Decimal(canonical_decimal(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [("1.50", "1.5"), ("2.000", "2"), ("100", "100"), ("1E+2", "100"), ("-0.00", "0"),
     ("0.0010", "0.001"), ("1E-7", "0.0000001"), ("-26500.40", "-26500.4"), ("10.0", "10")],
)  # fmt: skip
def test_canonical_money_text(value: str, text: str) -> None:
    assert canonical_decimal(Decimal(value)) == text


@pytest.mark.parametrize("count", [2, 3, 5, 17, 63, 64, 65, 150])
def test_many_journal_rows_go_in_in_order_whatever_the_chunks(engine: Engine, count: int) -> None:
    """Rows written as multi-row INSERTs (chunks of 64, 16, 4 and 1) keep their order and their
    values; NULLs, secrets' redaction and the shared raw text included."""
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        entries = [
            {"account": "acct", "order_pk": None, "at": T0 + timedelta(microseconds=i),
             "source": "request", "kind": f"k{i}", "req_id": i if i % 3 else None,
             "raw": {"n": i, "token": "T"}}
            for i in range(count)
        ]  # fmt: skip
        repo.append_events(session, entries)
    with sessions() as session:
        rows = session.execute(
            select(OrderEventRow.kind, OrderEventRow.req_id, OrderEventRow.at, OrderEventRow.raw)
            .order_by(OrderEventRow.id)
        ).all()  # fmt: skip
    assert [(kind, req_id, at, json.loads(raw)) for kind, req_id, at, raw in rows] == [
        (f"k{i}", i if i % 3 else None, T0 + timedelta(microseconds=i), {"n": i})
        for i in range(count)
    ]


def test_only_a_plain_insert_is_repeated_into_many_rows() -> None:
    dialect = sqlite.dialect()
    events = repo._DriverStatement(repo._INSERT_EVENT, repo._events, dialect)
    assert events.row_group is not None and events.row_group.count("?") == events.sql.count("?")
    # a fill's insert has an ON CONFLICT clause: one row per step, as before
    fills = repo._DriverStatement(repo._INSERT_FILL_SQLITE, repo._fills, dialect)
    assert fills.row_group is None
