"""The durable floor's client writes what its row claims: each order's row and intent entry are
committed (another connection sees them) before the order is sent, and the answer and the
order's executions reports after it."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

# benchmarks/ lives at the top of the repository but is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks._common import limit_buy
from benchmarks._durable_floor import DurableRawClient, durable_chunk
from engine.simulator.server import Simulator


class _Watched(DurableRawClient):
    """Counts, from a connection of its own, the rows committed when each send starts."""

    def __init__(self, *args: Any, database: Path) -> None:
        super().__init__(*args, database=database)
        self._reader = sqlite3.connect(database)
        self.seen_at_send: list[tuple[int, int]] = []

    def send_add_order(self, message: dict[str, Any]) -> int:
        orders = self._reader.execute("SELECT count(*) FROM orders").fetchone()[0]
        intents = self._reader.execute(
            "SELECT count(*) FROM order_events WHERE kind = 'intent'"
        ).fetchone()[0]
        self.seen_at_send.append((orders, intents))
        return super().send_add_order(message)

    def close(self) -> None:
        self._reader.close()
        super().close()


def test_intent_is_committed_before_each_send_and_the_answer_after(
    sim: Simulator, tmp_path: Path
) -> None:
    database = tmp_path / "durable.db"
    client = _Watched(sim.ws_url, sim.rest_url, sim.api_key, sim.api_secret, database=database)
    try:
        samples = durable_chunk(client, [limit_buy(i) for i in range(3)])
        assert len(samples) == 3 and all(s > 0 for s in samples)
        assert client.seen_at_send == [(1, 1), (2, 2), (3, 3)]
        assert client.acknowledged() == 3
    finally:
        client.close()
    with sqlite3.connect(database) as check:
        rows = check.execute("SELECT id, status, order_id FROM orders ORDER BY id").fetchall()
        events = check.execute("SELECT order_pk, kind FROM order_events ORDER BY id").fetchall()
    assert all(order_id for _, _, order_id in rows)
    for pk, status, _ in rows[:2]:  # the last one's `new` may still be unread
        kinds = [kind for order_pk, kind in events if order_pk == pk]
        assert kinds[:2] == ["intent", "ack"] and "new" in kinds, kinds
        assert status == "new"


def test_a_refused_order_still_has_its_intent(sim: Simulator, tmp_path: Path) -> None:
    client = DurableRawClient(
        sim.ws_url, sim.rest_url, sim.api_key, sim.api_secret, tmp_path / "durable.db"
    )
    try:
        with pytest.raises(AssertionError, match="success"):
            durable_chunk(client, [{**limit_buy(0), "symbol": "NOPE/USD"}])
        assert client.orders == 1 and client.acknowledged() == 0
    finally:
        client.close()
