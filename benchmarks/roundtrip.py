"""1. add_order round trip: bare socket (the floor) vs the engine vs python-kraken-sdk.

Beside them, the floor's client with a durable intent (`benchmarks._durable_floor`): what the
intent-before-send promise costs without the engine. The four clients are connected at once,
each on its own simulator account (so no client sees the others' executions), and take turns
in rounds so that load from other processes on the machine falls on all four alike.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._common import Goal, Section, Sizes, limit_buy, ratio, summary_ms
from benchmarks._durable_floor import DurableRawClient, durable_chunk
from benchmarks._engine import start_engine
from benchmarks._floor import RawClient
from benchmarks._sim import SimProcess

__all__ = ["run"]

_ROUNDS = 4
_ENGINE = "engine (intent committed, then sent)"
# a reference, in no goal: see benchmarks/_durable_floor.py
_DURABLE = "bare socket + intent committed (sqlite3, one thread)"


class _SdkClient:
    """python-kraken-sdk's SpotWSClient on its own asyncio loop thread.

    Timed inside the loop: from just before `send_message` to the callback that carries the
    add_order response with the same req_id.
    """

    def __init__(self, sim: SimProcess, key: str, secret: str) -> None:
        from kraken.spot import SpotWSClient

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._waiting: dict[int, tuple[asyncio.Future[float], float]] = {}
        self._req_id = 1000

        async def on_message(message: dict[str, Any]) -> None:
            if message.get("method") in ("add_order", "subscribe"):
                entry = self._waiting.pop(message.get("req_id", -1), None)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(time.perf_counter() - entry[1])

        async def open_client() -> Any:
            client = SpotWSClient(
                key=key,
                secret=secret,
                callback=on_message,
                no_public=True,
                rest_url=sim.rest_url,
                auth_ws_url=sim.ws_url.removesuffix("/v2"),
            )
            await client.start()
            subscribed = self._expect(1)
            await client.subscribe(params={"channel": "executions"}, req_id=1)
            await asyncio.wait_for(subscribed, 30)
            return client

        self._client = self._call(open_client())

    def _expect(self, req_id: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = self._loop.create_future()
        self._waiting[req_id] = (future, time.perf_counter())
        return future

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def round_trips(self, orders: list[dict[str, Any]]) -> list[float]:
        async def chunk() -> list[float]:
            samples = []
            for fields in orders:
                self._req_id += 1
                params = {k: float(v) if k in ("order_qty", "limit_price") else v
                          for k, v in fields.items()}  # fmt: skip
                answered = self._expect(self._req_id)
                await self._client.send_message(
                    {"method": "add_order", "req_id": self._req_id, "params": params}
                )
                samples.append(await asyncio.wait_for(answered, 30))
            return samples

        result: list[float] = self._call(chunk())
        return result

    def close(self) -> None:
        try:
            self._call(self._client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


def _floor_chunk(client: RawClient, orders: list[dict[str, Any]]) -> list[float]:
    samples = []
    for fields in orders:
        message = client.add_order_frame(fields)
        started = time.perf_counter()
        req_id = client.send_add_order(message)
        response = client.wait_response(req_id)
        samples.append(time.perf_counter() - started)
        assert response.get("success"), response
    return samples


def _engine_chunk(engine: Any, orders: list[dict[str, Any]]) -> list[float]:
    samples = []
    for fields in orders:
        started = time.perf_counter()
        response = engine.submit_spot_order(**fields).result(timeout=30)
        samples.append(time.perf_counter() - started)
        assert response.success, response
    return samples


def run(sim: SimProcess, sizes: Sizes, workdir: Path) -> Section:
    section = Section(
        "roundtrip",
        "1. add_order round trip (send -> response), ms",
        ["client", "n", "p50 ms", "p99 ms", "p50 / floor", "p99 / floor"],
    )
    floor_key, floor_secret = sim.add_account()
    durable_key, durable_secret = sim.add_account()
    engine_key, engine_secret = sim.add_account()
    sdk_key, sdk_secret = sim.add_account()
    floor = RawClient(sim.ws_url, sim.rest_url, floor_key, floor_secret)
    durable = DurableRawClient(
        sim.ws_url, sim.rest_url, durable_key, durable_secret, workdir / "durable_floor.db"
    )
    engine = start_engine(sim, engine_key, engine_secret, workdir / "roundtrip.db")
    sdk = _SdkClient(sim, sdk_key, sdk_secret)
    clients: dict[str, Callable[[list[dict[str, Any]]], list[float]]] = {
        "bare websocket-client (floor)": lambda o: _floor_chunk(floor, o),
        _DURABLE: lambda o: durable_chunk(durable, o),
        _ENGINE: lambda o: _engine_chunk(engine, o),
        "python-kraken-sdk SpotWSClient": sdk.round_trips,
    }
    samples: dict[str, list[float]] = {name: [] for name in clients}
    try:
        counter = 0
        for measure in clients.values():  # warm-up, not recorded
            measure([limit_buy(counter + i) for i in range(sizes.warmup)])
            counter += sizes.warmup
        per_round = max(1, sizes.round_trips // _ROUNDS)
        for _ in range(_ROUNDS):
            for name, measure in clients.items():
                orders = [limit_buy(counter + i) for i in range(per_round)]
                counter += per_round
                samples[name].extend(measure(orders))
    finally:
        sdk.close()
        engine.stop()
        floor.close()
        durable.close()
    names = list(clients)
    floor_p50, floor_p99 = summary_ms(samples[names[0]])
    figures = {}
    for name in names:
        p50, p99 = summary_ms(samples[name])
        figures[name] = (ratio(p50, floor_p50), ratio(p99, floor_p99))
        section.rows.append([name, len(samples[name]), p50, p99, *figures[name]])
    engine_ratio = figures[_ENGINE]
    section.goals.append(Goal(f"engine p50 <= 2.0x floor (got {engine_ratio[0]:.2f}x)",
                              engine_ratio[0] <= 2.0))  # fmt: skip
    section.goals.append(Goal(f"engine p99 <= 4x floor (got {engine_ratio[1]:.2f}x)",
                              engine_ratio[1] <= 4.0))  # fmt: skip
    section.notes.append(
        f"{_ROUNDS} interleaved rounds, {sizes.warmup} warm-up orders per client; resting limit "
        "buys, one simulator account per client; the engine's figure is submit_spot_order() "
        "to Future.result() in the caller's thread"
    )
    section.notes.append(
        f"'{_DURABLE}' is the floor's client committing each order's row and intent entry "
        "(the engine's schema and pragmas) before its send, and its answer and reports after "
        "the timed part: what any durable client pays here, so the rest of the engine's p50 is "
        "the engine's own. Its p99 is SQLite's checkpoints, which its commits run inline (the "
        "default) and the engine runs on a thread of its own. A reference, in no goal"
    )
    return section
