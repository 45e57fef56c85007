"""`kraken-router orders|order|fills|db` run as real subprocesses."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.domain.reports import FillReport
from persistence import repository as repo
from persistence.db import ensure_schema, make_engine, make_sessionmaker
from persistence.history import FILL_JSON_KEYS, ORDER_JSON_KEYS

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "KRAKEN_DATABASE_URL"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    engine = make_engine(url)
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        pk = repo.insert_order(
            session,
            account="acct",
            symbol="BTC/USD",
            side="buy",
            order_type="limit",
            order_qty=Decimal("0.000000012345678901"),
            limit_price=Decimal("123456789012.123456789"),
            params={"token": "never"},
            status="partially_filled",
            created_at=T0,
            cl_ord_id="c-1",
            order_id="OABC-1",
        )
        repo.insert_order(
            session,
            account="acct",
            symbol="ETH/USD",
            side="sell",
            order_type="market",
            order_qty=Decimal("2"),
            limit_price=None,
            params={},
            status="filled",
            created_at=datetime(2024, 5, 2, tzinfo=UTC),
        )
        repo.append_event(
            session, account="acct", order_pk=pk, at=T0, source="request", kind="sent", req_id=1
        )
        fill = FillReport(
            exec_id="E1", order_id="OABC-1", last_qty=Decimal("0.5"), last_price=Decimal("10")
        )
        repo.insert_fill(session, account="acct", order_pk=pk, fill=fill)
        session.commit()
    engine.dispose()
    return url


def test_orders_in_three_formats(url: str) -> None:
    table = cli("orders", "--db", url)
    assert table.returncode == 0, table.stderr
    assert "OABC-1" in table.stdout and "(2 rows)" in table.stdout

    as_json = cli("orders", "--db", url, "--status", "open", "--json")
    [order] = json.loads(as_json.stdout)
    assert list(order) == list(ORDER_JSON_KEYS)
    assert order["order_qty"] == "0.000000012345678901"
    assert order["limit_price"] == "123456789012.123456789"
    assert order["avg_price"] is None and order["created_at"] == "2024-05-01T12:00:00Z"

    as_csv = cli("orders", "--since", "2024-05-02", "--csv", env={"KRAKEN_DATABASE_URL": url})
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == list(ORDER_JSON_KEYS)
    assert [(r["symbol"], r["status"]) for r in rows] == [("ETH/USD", "filled")]


def test_order_timeline_and_fills(url: str) -> None:
    text = cli("order", "OABC-1", "--db", url)
    assert text.returncode == 0, text.stderr
    assert "sent" in text.stdout and "exec_id E1" in text.stdout
    doc = json.loads(cli("order", "c-1", "--db", url, "--json").stdout)
    assert [e["kind"] for e in doc["events"]] == ["sent"]
    assert doc["fills"][0]["last_qty"] == "0.5"
    assert cli("order", "nope", "--db", url).returncode == 1

    fills = json.loads(cli("fills", "--db", url, "--symbol", "BTC/USD", "--json").stdout)
    assert [list(f) for f in fills] == [list(FILL_JSON_KEYS)]
    assert fills[0]["cost"] == "5"
    fills_csv = cli("fills", "--db", url, "--csv").stdout.splitlines()
    assert fills_csv[0] == ",".join(FILL_JSON_KEYS) and len(fills_csv) == 2
    assert "E1" in cli("fills", "--db", url).stdout


def test_missing_database_and_bad_url(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/none.db"
    assert json.loads(cli("orders", "--db", missing, "--json").stdout) == []
    table = cli("orders", "--db", missing)
    assert table.returncode == 0 and "(0 rows)" in table.stdout
    assert not (tmp_path / "none.db").exists()
    bad = cli("orders", "--db", "nosuchdialect://x")
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_db_subcommand(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ops.db"
    assert "none" in cli("db", "current", "--db", url).stdout
    assert cli("db", "upgrade", "--db", url).returncode == 0
    assert "(head)" in cli("db", "current", "--db", url).stdout
    assert cli("db", "check", "--db", url).returncode == 0
    assert cli("db", "downgrade", "base", "--db", url).returncode == 0
    assert cli("db", "check", "--db", url).returncode == 2


def test_help_lists_every_command_with_its_scripts_summary() -> None:
    """An operator's first `kraken-router --help` names every command and what it does; the
    summaries are written out in scripts/cli.py, so they must not drift from the scripts."""
    import importlib

    from scripts.cli import _SUBCOMMANDS

    shown = cli("--help")
    assert shown.returncode == 0
    listing = " ".join(shown.stdout.split())  # argparse wraps the summaries
    for name, (module_name, summary) in _SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        assert (module.__doc__ or "").strip().splitlines()[0] == summary, name
        assert f"{name} {summary}" in listing
