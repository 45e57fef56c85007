"""4. Recovery: socket drop (simulator control `drop_connections`) to the `reconciled` event.

The database is seeded first with terminal orders (direct inserts through
`persistence.repository`, big transactions), under the engine's own account, so the engine
starts with that much history; a few resting orders are live at the venue and in the engine.
The floor is the bare socket's reconnect: a new token over REST, a new socket, and the
executions subscription acknowledged, which every reconnect must do before reconciling.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._common import Goal, Section, Sizes, limit_buy, ratio, summary_ms
from benchmarks._engine import engine_config
from benchmarks._floor import RawClient
from benchmarks._seed import repository_history
from benchmarks._sim import SimProcess
from engine import Engine

__all__ = ["run"]


def _floor(sim: SimProcess, repeats: int) -> list[float]:
    key, secret = sim.add_account()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        RawClient(sim.ws_url, sim.rest_url, key, secret).close()
        samples.append(time.perf_counter() - started)
    return samples


def _recover(
    sim: SimProcess, workdir: Path, history: int, repeats: int
) -> tuple[list[float], float]:
    key, secret = sim.add_account()
    database = workdir / f"recovery-{history}.db"
    config = engine_config(sim, key, secret, database)
    seeded = time.perf_counter()
    repository_history(database, config.account, history)
    seed_s = time.perf_counter() - seeded
    reconciled = threading.Event()

    def on_reconciled(_event: Any) -> None:
        reconciled.set()

    engine = Engine(config).start()
    engine.on("reconciled", on_reconciled)
    samples = []
    try:
        engine.connect(timeout=30)
        for i in range(10):
            engine.submit_spot_order(**limit_buy(i)).result(timeout=30)
        reconciled.wait(5)  # a start with history reconciles once; not measured
        for _ in range(repeats):
            engine.wait_for_events(timeout=10)
            reconciled.clear()
            started = time.perf_counter()
            sim.control.drop_connections()
            if not reconciled.wait(30):
                raise TimeoutError("no reconciled event within 30 s of the drop")
            samples.append(time.perf_counter() - started)
            time.sleep(0.05)  # let the reconnect settle before the next drop
    finally:
        engine.stop()
    return samples, seed_s


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "recovery",
        "4. Recovery: socket drop -> reconciled, ms",
        ["history (orders)", "drops", "p50 ms", "p99 ms", "p50 / floor", "p99 / floor"],
    )
    floor_p50, floor_p99 = summary_ms(_floor(sim, sizes.recovery_repeats))
    section.rows.append(["bare socket: token + connect + subscribe (floor)",
                         sizes.recovery_repeats, floor_p50, floor_p99, 1.0, 1.0])  # fmt: skip
    p50s = []
    for history in sizes.recovery_histories:
        samples, seed_s = _recover(sim, workdir, history, sizes.recovery_repeats)
        p50, p99 = summary_ms(samples)
        p50s.append(p50)
        section.rows.append([f"{history:,} terminal orders", len(samples), p50, p99,
                             ratio(p50, floor_p50), ratio(p99, floor_p99)])  # fmt: skip
        section.notes.append(f"seeding {history:,} orders took {seed_s:.1f} s (not measured)")
    section.goals.append(Goal(f"p50 <= 150 ms for every history size (got "
                              f"{', '.join(f'{p:.0f}' for p in p50s)} ms)",
                              max(p50s) <= 150))  # fmt: skip
    spread = max(p50s) / min(p50s) if min(p50s) > 0 else float("nan")
    section.goals.append(Goal(f"same for both sizes: p50s within 1.5x (got {spread:.2f}x)",
                              spread <= 1.5))  # fmt: skip
    return section
