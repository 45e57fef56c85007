"""An order is found by its cl_ord_id through an index, with or without its account: the CLI's
`order` and `timeline` name no account, and a scan of a million orders took 143 ms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from persistence.db import ensure_schema, make_engine
from persistence.history import _find_query


@pytest.mark.parametrize("with_account", [False, True])
def test_a_cl_ord_id_lookup_searches_an_index(tmp_path: Path, with_account: bool) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    ensure_schema(engine)  # the migrations, as at start
    compiled = _find_query("cl_ord_id", with_account).statement.compile(dialect=engine.dialect)
    values = {"key": "x", "account": "acct", "limit": 1}
    params = tuple(values.get(name, 0) for name in compiled.positiontup or ())
    sql = compiled.string
    with engine.connect() as conn:
        plan = " ".join(
            row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
        )
        rows = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
    engine.dispose()
    assert rows == 0
    assert "SEARCH orders USING INDEX ix_orders_cl_ord_id_account (cl_ord_id=?" in plan, plan
