"""The order manager's write transaction is its writer connection's own, with the session
joined to it: what goes through the repository's SQLite shortcuts and what goes through the
ORM commit together, and a failure leaves nothing of either. Runs on both dialects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from actors.clock import SystemClock
from actors.listeners import EventBus
from actors.order_manager import Intake, OrderManagerActor
from persistence import repository
from persistence.db import make_sessionmaker
from persistence.models import KvStateRow

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def manager(engine: Engine) -> Iterator[OrderManagerActor]:
    """The actor's object driven on this thread (its write path needs no mailbox)."""
    om = OrderManagerActor(account="acct", sessions=make_sessionmaker(engine),
                           clock=SystemClock(), events=EventBus(), intake=Intake(),
                           connection=lambda: None, run_id=None)  # fmt: skip
    om.on_start()
    yield om
    om.on_stop()


def _order(session: object) -> int:
    return repository.insert_order(
        session,  # type: ignore[arg-type]
        account="acct",
        symbol="BTC/USD",
        side="buy",
        order_type="limit",
        order_qty=Decimal("1"),
        limit_price=Decimal("100"),
        params={"symbol": "BTC/USD"},
        status="pending_submit",
        created_at=T0,
    )


def _stored(engine: Engine) -> tuple[int, dict[str, str]]:
    with make_sessionmaker(engine)() as session:
        orders = len(repository.live_orders(session, "acct"))
        kv = {row.key: row.value for row in session.query(KvStateRow).all()}
    return orders, kv


def test_shortcut_statements_and_orm_work_commit_together(
    manager: OrderManagerActor, engine: Engine
) -> None:
    def work(session: object) -> int:
        pk = _order(session)  # the driver's connection on SQLite
        repository.set_kv(session, "acct", "core", "1")  # type: ignore[arg-type]  # Core, via the session
        session.add(KvStateRow(account="acct", key="orm", value="2"))  # type: ignore[attr-defined]
        return pk

    assert manager.write(work) > 0
    assert _stored(engine) == (1, {"core": "1", "orm": "2"})
    # and the next transaction starts clean
    manager.write(lambda session: repository.set_kv(session, "acct", "core", "3"))
    assert _stored(engine) == (1, {"core": "3", "orm": "2"})


def test_a_failed_transaction_leaves_nothing_and_the_next_one_commits(
    manager: OrderManagerActor, engine: Engine
) -> None:
    def failing(session: object) -> None:
        _order(session)
        repository.set_kv(session, "acct", "core", "1")  # type: ignore[arg-type]
        session.add(KvStateRow(account="acct", key="orm", value="2"))  # type: ignore[attr-defined]
        session.flush()  # type: ignore[attr-defined]
        raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError, match="disk full"):
        manager.write(failing)
    assert _stored(engine) == (0, {})

    manager.write(lambda session: (_order(session), repository.set_kv(session, "acct", "k", "v")))
    assert _stored(engine) == (1, {"k": "v"})
