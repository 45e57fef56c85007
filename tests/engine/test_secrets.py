"""Neither the API secret nor a WebSocket token may leak: logs, output, reprs, the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from engine import Engine
from engine.simulator import Simulator


def test_no_secret_or_token_in_logs_output_reprs_or_database(
    make_engine: Callable[..., Engine],
    sim: Simulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(dead_mans_switch_timeout=60, dead_mans_switch_interval=20)
    engine.connect()
    placed = engine.submit_spot_order(
        order_type="limit",
        side="buy",
        symbol="BTC/USD",
        order_qty=Decimal("1"),
        limit_price=Decimal("20000.0"),
    ).result(timeout=5)
    engine.cancel_spot_order(order_id=placed.result.order_id).result(timeout=5)
    reconnected = threading.Event()
    engine.on("reconnected", lambda _e: reconnected.set())
    sim.control.drop_connections()  # a reconnect mints a second token
    assert reconnected.wait(10)  # connect() alone may return before the drop is seen
    engine.cancel_all_spot_orders().result(timeout=5)
    engine.wait_for_events()
    tokens = sim.exchange.issued_tokens(sim.api_key)
    assert len(tokens) >= 2
    secrets = [sim.api_secret, *tokens]
    engine.stop()

    out, err = capfd.readouterr()
    texts = [r.getMessage() for r in caplog.records] + [out, err, repr(engine), repr(engine.config)]
    database = b"".join(p.read_bytes() for p in tmp_path.glob("orders.db*"))
    for secret in secrets:
        assert all(secret not in text for text in texts)
        assert secret.encode() not in database
