"""An order is found by its cl_ord_id through an index, with or without its account: the CLI's
`order` and `timeline` name no account, and a scan of a million orders took 143 ms. Fills are
found by their order's Kraken id through indexes too, though `fills.order_id` is indexed only
for the fills that wait for their order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from persistence.db import ensure_schema, make_engine
from persistence.history import _fills_query, _find_query


def _plan(tmp_path: Path, statement: Any) -> str:
    engine = make_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    ensure_schema(engine)  # the migrations, as at start
    compiled = statement.compile(dialect=engine.dialect)
    values = {"key": "x", "order_id": "x", "account": "acct", "limit": 1}
    params = tuple(values.get(name, 0) for name in compiled.positiontup or ())
    with engine.connect() as conn:
        plan = " ".join(
            row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", params)
        )
        rows = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
    engine.dispose()
    assert rows == 0
    return plan


@pytest.mark.parametrize("with_account", [False, True])
def test_a_cl_ord_id_lookup_searches_an_index(tmp_path: Path, with_account: bool) -> None:
    plan = _plan(tmp_path, _find_query("cl_ord_id", with_account).statement)
    assert "SEARCH orders USING INDEX ix_orders_cl_ord_id_account (cl_ord_id=?" in plan, plan


@pytest.mark.parametrize(
    "shape", [("fills", "order_id"), ("fills", "order_id", "account", "limit")]
)
def test_fills_by_order_id_search_indexes(tmp_path: Path, shape: tuple[str, ...]) -> None:
    plan = _plan(tmp_path, _fills_query(shape).statement)
    assert "SCAN fills" not in plan, plan
    assert "ix_fills_unlinked_order_id (order_id=?" in plan, plan
    assert "SEARCH fills USING INDEX ix_fills_order_pk (order_pk=?)" in plan, plan


@pytest.mark.parametrize(
    "shape",
    [("fills", "limit"), ("fills", "account", "limit"), ("fills", "symbol", "limit")],
)
def test_the_newest_fills_are_read_newest_first_through_an_index(
    tmp_path: Path, shape: tuple[str, ...]
) -> None:
    """`kraken-router fills` and its account or symbol filter: no sort of every fill (260-340
    ms for the newest 50 of 250,000 before `ix_fills_at`)."""
    plan = _plan(tmp_path, _fills_query(shape).statement)
    assert "SCAN fills USING INDEX ix_fills_at" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("shape", [("fills", "since"), ("fills", "account", "since", "limit")])
def test_fills_since_a_time_search_the_time_index(tmp_path: Path, shape: tuple[str, ...]) -> None:
    plan = _plan(tmp_path, _fills_query(shape).statement)
    assert "SEARCH fills USING INDEX ix_fills_at (at>?)" in plan, plan


def test_fills_of_a_symbol_use_the_account_symbol_index(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _fills_query(("fills", "account", "symbol", "limit")).statement)
    assert "SEARCH fills USING INDEX ix_fills_account_symbol_at (account=? AND symbol=?)" in plan
    assert "TEMP B-TREE" not in plan, plan
