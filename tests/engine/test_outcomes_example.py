"""examples/outcomes_example.py against the simulator: each outcome ends where the example says.

Examples that nothing runs rot; this one documents how to handle the three outcomes and a
fail-stop, so it is run here, on the real simulator and a real SQLite file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from engine_support import engine_config, limit_buy

from actors.order_manager import OrderManagerActor
from engine import Engine
from engine.simulator import Simulator
from persistence.history import History

EXAMPLE = Path(__file__).parents[2] / "examples" / "outcomes_example.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outcomes_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _on_kraken(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {o["order_id"]: o for o in sim.control.state()["orders"]}


def test_an_acknowledged_order_gives_its_id(
    example: ModuleType, make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    order_id = example.place(engine, limit_buy())
    assert order_id in _on_kraken(sim)


def test_a_refused_order_gives_none_and_nothing_is_on_kraken(
    example: ModuleType, make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine()
    assert example.place(engine, limit_buy(order_qty=Decimal("0.1234567891"))) is None  # lot
    sim.control.fail_requests(1, error="EOrder:Insufficient funds")
    assert example.place(engine, limit_buy()) is None
    assert _on_kraken(sim) == {}


def test_an_unknown_outcome_is_settled_not_sent_again(
    example: ModuleType, make_engine: Callable[..., Engine], sim: Simulator
) -> None:
    engine = make_engine(request_timeout=1.0)
    sim.control.swallow_responses(1)  # placed, but its answer never comes
    unknown: list[BaseException] = []
    submit = engine.submit_spot_order

    def watched(**fields: Any) -> Any:
        future = submit(**fields)
        future.add_done_callback(lambda f: unknown.extend(filter(None, [f.exception()])))
        return future

    engine.submit_spot_order = watched  # type: ignore[method-assign]  # sees the outcome

    order_id = example.place(engine, limit_buy(), timeout=10)

    assert [type(e).__name__ for e in unknown] == ["OutcomeUnknown"]
    assert sim.control.state()["faults_fired"]["swallow_responses"] == 1
    assert list(_on_kraken(sim)) == [order_id]  # the one order, under the id the example gave


def test_after_a_fail_stop_a_new_engine_carries_on(
    example: ModuleType,
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first engine's order manager meets a bug on its first order; `trade` starts a new
    engine on the same database, which reconciles and places the order."""
    record = OrderManagerActor._record_placement
    failures = iter([True])

    def broken_once(self: OrderManagerActor, *args: Any) -> Any:
        if next(failures, False):
            raise RuntimeError("injected fault")
        return record(self, *args)

    monkeypatch.setattr(OrderManagerActor, "_record_placement", broken_once)
    placed: list[str | None] = []
    config = engine_config(sim, tmp_path, request_timeout=5.0)

    example.trade(config, lambda engine: placed.append(example.place(engine, limit_buy())))

    assert len(placed) == 1 and placed[0] in _on_kraken(sim)
    [row] = History(config.database_url).orders()
    assert row.order_id == placed[0]
