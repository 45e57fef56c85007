"""An order manager's object driven on the test's thread, on a real SQLite file.

Tests of the order manager's decisions call its handlers directly (no actor thread, no
socket): what they assert is what it wrote and what it handed to the wire."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from actors.clock import SystemClock
from actors.listeners import EventBus
from actors.messages import DrainIntake, ForwardRequest, PlaceOrders
from actors.order_manager import DrainFacts, Intake, OrderManagerActor
from engine.domain.clock import Clock
from persistence.db import ensure_schema, make_engine, make_sessionmaker


class DiscardingWire:
    """The connection, for tests where what matters is what comes back, not what was sent."""

    def tell(self, message: Any) -> None:
        pass


@contextlib.contextmanager
def driven_order_manager(
    url: str,
    connection: Callable[[], Any],
    intake: Intake | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> Iterator[OrderManagerActor]:
    """Started (its book loaded from the database at `url`), stopped on the way out."""
    engine = make_engine(url)
    ensure_schema(engine)
    om = OrderManagerActor(account="acct", sessions=make_sessionmaker(engine),
                           clock=clock or SystemClock(), events=EventBus(),
                           intake=intake if intake is not None else Intake(),
                           connection=connection, run_id=None, **settings)  # fmt: skip
    om.on_start()
    try:
        yield om
    finally:
        om.on_stop()
        engine.dispose()


def submit(om: OrderManagerActor, command: PlaceOrders | ForwardRequest) -> None:
    """A caller's command, taken at once."""
    om._intake.put(command)
    om.on_receive(DrainIntake())


def apply_fact(om: OrderManagerActor, fact: Any) -> None:
    """An answer or a report from the connection, applied at once."""
    om.inlet.tell(fact)
    om.on_receive(DrainFacts())
