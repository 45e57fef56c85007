"""What a strategy does with each outcome of an order, and after the engine stops itself.

    KRAKEN_API_KEY=... KRAKEN_API_SECRET=... python examples/outcomes_example.py

Every call ends in one of three ways, and the error says which:

- **acknowledged**: the future's result carries Kraken's `order_id`;
- **nothing happened**: `LocalRejection` (refused before sending: `.field`, `.reason`),
  `VenueRejection` (Kraken refused: `.error`), `NotSent` or `EngineStopped`;
- **unknown**: `OutcomeUnknown`. It was sent and no answer came: the order may be working.
  Do not send it again under a new id, or you may hold two. The engine keeps it in flight and
  reconciliation settles it; ask for it by its `cl_ord_id` once the engine says `reconciled`.

`EngineFailed` (an `EngineStopped`) means the engine stopped itself after a bug in it. Nothing
was sent for that call. Start a new engine on the same database: it reconciles with Kraken
before it sends anything, and it knows every order the failed one had sent.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine import Engine, EngineConfig
from engine.domain.lifecycle import OrderStatus
from engine.errors import EngineFailed, LocalRejection, OutcomeUnknown, VenueRejection

log = logging.getLogger("outcomes_example")


def place(engine: Engine, fields: dict[str, Any], timeout: float = 10.0) -> str | None:
    """Kraken's order id once the order is known to be placed, or None if nothing happened.

    The order gets its `cl_ord_id` here, so that an unknown outcome can be looked up.
    """
    fields = {"cl_ord_id": str(uuid.uuid4()), **fields}
    try:
        return str(engine.submit_spot_order(**fields).result(timeout=timeout).result.order_id)
    except LocalRejection as exc:
        log.warning("not sent, %s: %s", exc.field, exc.reason)
        return None
    except VenueRejection as exc:
        log.warning("Kraken refused it: %s", exc.error)
        return None
    except OutcomeUnknown:
        log.warning("outcome unknown for %s: waiting for reconciliation", fields["cl_ord_id"])
        return settled(engine, fields["cl_ord_id"], timeout)


def settled(engine: Engine, cl_ord_id: str, timeout: float) -> str | None:
    """The order's id once reconciliation has settled it; None if it was never placed."""
    reconciled = threading.Event()

    def on_reconciled(_event: Any) -> None:
        reconciled.set()

    engine.on("reconciled", on_reconciled)
    try:
        while True:
            order = engine.get_order(cl_ord_id)
            if order is None or order.status in (OrderStatus.NOT_SENT, OrderStatus.REJECTED):
                return None
            if order.order_id is not None:  # an executions report may have told it already
                return order.order_id
            if not reconciled.wait(timeout):
                raise TimeoutError(f"{cl_ord_id} still unsettled after {timeout} s")
            reconciled.clear()
    finally:
        engine.off("reconciled", on_reconciled)


def trade(config: EngineConfig, strategy: Callable[[Engine], None], restarts: int = 3) -> None:
    """Run `strategy` on an engine, and on a new one each time an engine stops itself."""
    for attempt in range(restarts + 1):
        with Engine(config) as engine:
            try:
                engine.connect()
                strategy(engine)
                return
            except EngineFailed as exc:
                log.error("engine failed (%s); attempt %d: starting a new one", exc, attempt + 1)
    raise RuntimeError(f"the engine failed {restarts + 1} times: see the log")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    def strategy(engine: Engine) -> None:
        bid = {"order_type": "limit", "side": "buy", "symbol": "BTC/USD",
               "order_qty": Decimal("0.1"), "limit_price": Decimal("25000.0")}  # fmt: skip
        print("placed", place(engine, bid))
        print("placed", place(engine, {**bid, "order_qty": Decimal("0.1234567891")}))  # lot
        print("cancelled", engine.cancel_all_spot_orders().result(timeout=10).result.count)

    trade(EngineConfig.from_env(), strategy)


if __name__ == "__main__":
    main()
