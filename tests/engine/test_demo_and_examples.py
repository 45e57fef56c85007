"""The main job (`kraken-router demo`) and the README's examples, run for real.

The demo is the first thing a new user runs and the examples are what they copy: each runs
here against the simulator with a real SQLite file, and what it prints and what it leaves in the
database are checked, so that neither rots unnoticed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from engine.simulator import Simulator
from persistence.history import History
from scripts import demo

ROOT = Path(__file__).resolve().parents[2]
_STEP = re.compile(r"^(\d)\. ")
_EVENT = re.compile(r"^    event (order_\w+)")


def _steps(output: str) -> dict[int, Counter[str]]:
    """The order events printed under each numbered step's heading."""
    steps: dict[int, Counter[str]] = {}
    current = None
    for line in output.splitlines():
        if heading := _STEP.match(line):
            current = steps.setdefault(int(heading.group(1)), Counter())
        elif (event := _EVENT.match(line)) and current is not None:
            current[event.group(1)] += 1
        elif line.startswith("order history"):
            current = None
    return steps


def test_the_demo_prints_each_steps_events_under_it_and_keeps_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"

    assert demo.run(argparse.Namespace(db=url, verbose=False)) == 0

    output = capsys.readouterr().out
    assert "(no " not in output  # no step gave up waiting for its events
    steps = _steps(output)
    assert sorted(steps) == [1, 2, 3, 4, 5, 6, 7]
    expected = {
        1: {"order_submitted": 1, "order_new": 1},
        2: {"order_amended": 1},
        3: {"order_partially_filled": 1},
        4: {"order_canceled": 1},
        5: {},
        6: {"order_submitted": 2, "order_new": 2},
        7: {"order_canceled": 2},
    }
    for number, events in expected.items():
        # pending_new may come or not, as on Kraken; nothing of another step's may
        assert steps[number] - Counter({"order_pending_new": 2}) == Counter(events), number
    orders = History(url).orders(limit=10)
    assert [(o.symbol, o.side, o.status) for o in orders] == [
        ("ETH/USD", "sell", "canceled"),
        ("ETH/USD", "buy", "canceled"),
        ("BTC/USD", "buy", "canceled"),
    ]
    btc = orders[-1]
    assert (btc.cum_qty, btc.limit_price) == (Decimal("0.5"), Decimal("26400"))
    assert btc.order_id is not None and btc.order_id in output


def _run_example(name: str, sim: Simulator, database: Path) -> tuple[str, str]:
    """Its stdout and stderr, once it has exited with 0."""
    # the caller's own KRAKEN_* settings (a tier, a timeout) must not change the run
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    env |= {
        "KRAKEN_API_KEY": sim.api_key,
        "KRAKEN_API_SECRET": sim.api_secret,
        "KRAKEN_WS_URL": sim.ws_url,
        "KRAKEN_REST_URL": sim.rest_url,
        "KRAKEN_DATABASE_URL": f"sqlite:///{database}",
        "KRAKEN_DEAD_MANS_SWITCH_TIMEOUT": "0",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sim.api_secret not in done.stdout + done.stderr
    return done.stdout, done.stderr


def test_the_full_example_runs_its_scenario_against_the_simulator(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.control.set_reference_price("BTC/USD", Decimal("26600.0"))
    database = tmp_path / "full.db"

    output, log = _run_example("full_example", sim, database)

    # the main thread alone prints (events are logged to stderr), so its lines come whole
    placed = re.search(r"^placed (\S+)$", output, re.MULTILINE)
    assert placed is not None, output
    assert f"canceled {placed.group(1)}" in output
    assert re.search(r"^amended \S+$", output, re.MULTILINE)
    assert "dead man's switch fires at" in output
    assert "cancel_all cancelled 2" in output, output
    assert f"order event: order_canceled {placed.group(1)}" in log
    orders = {o.order_id: o.status for o in History(f"sqlite:///{database}").orders(limit=10)}
    assert orders == {o["order_id"]: o["status"] for o in sim.control.state()["orders"]}
    assert len(orders) == 3 and set(orders.values()) == {"canceled"}


def test_the_asyncio_example_quotes_and_cancels(sim: Simulator, tmp_path: Path) -> None:
    sim.control.set_reference_price("BTC/USD", Decimal("26600.0"))
    database = tmp_path / "asyncio.db"

    output, _ = _run_example("asyncio_example", sim, database)

    quoting = re.search(r"^quoting (\S+) (\S+)$", output, re.MULTILINE)
    assert quoting is not None, output
    assert "cancelled 2" in output, output
    orders = {o.order_id: o.status for o in History(f"sqlite:///{database}").orders(limit=10)}
    assert set(orders) == {quoting.group(1), quoting.group(2)}
    assert set(orders.values()) == {"canceled"}
    on_kraken = {o["order_id"]: o for o in sim.control.state()["orders"]}
    assert set(on_kraken) == set(orders)
    assert all(o["post_only"] and o["status"] == "canceled" for o in on_kraken.values())


def test_the_strategy_test_example_passes_as_a_user_would_run_it(tmp_path: Path) -> None:
    """`pytest examples/strategy_test_example.py`, from the repository, in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    example = "examples/strategy_test_example.py"
    basetemp = f"--basetemp={tmp_path / 'pytest'}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", example, "-p", "no:cacheprovider", basetemp],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout, done.stdout[-3000:]
