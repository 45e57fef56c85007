"""A real public client, python-kraken-sdk, unchanged against the simulator (acceptance)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kraken.spot import SpotWSClient, Trade, User

from engine.simulator import Simulator


def test_sdk_rest_trade_and_user(sim: Simulator) -> None:
    trade = Trade(key=sim.api_key, secret=sim.api_secret, url=sim.rest_url)
    user = User(key=sim.api_key, secret=sim.api_secret, url=sim.rest_url)
    placed = trade.create_order(
        ordertype="limit", side="buy", pair="XBTUSD", volume="0.01", price="50000.0",
        cl_ord_id="sdk-rest-1",
    )  # fmt: skip
    txid = placed["txid"][0]
    assert placed["descr"]["order"] == "buy 0.01000000 XBTUSD @ limit 50000.0"
    opened = user.get_open_orders(trades=True)["open"]
    assert opened[txid]["cl_ord_id"] == "sdk-rest-1"
    assert trade.cancel_order(txid=txid)["count"] == 1
    assert txid in user.get_closed_orders()["closed"]
    assert user.get_orders_info(txid=txid)[txid]["status"] == "canceled"
    armed = trade.cancel_all_orders_after_x(timeout=60)
    assert set(armed) == {"currentTime", "triggerTime"}
    assert trade.cancel_all_orders()["count"] == 0


def test_sdk_spot_ws_client_places_cancels_and_reads(sim: Simulator) -> None:
    messages: list[dict[str, Any]] = []

    async def scenario() -> None:
        changed = asyncio.Condition()

        async def on_message(message: dict[str, Any]) -> None:
            async with changed:
                messages.append(message)
                changed.notify_all()

        async def wait(predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            async with changed:
                await asyncio.wait_for(
                    changed.wait_for(lambda: any(predicate(m) for m in messages)), timeout=15
                )
            return next(m for m in messages if predicate(m))

        client = SpotWSClient(
            key=sim.api_key,
            secret=sim.api_secret,
            callback=on_message,
            no_public=True,
            rest_url=sim.rest_url,
            auth_ws_url=sim.ws_url.removesuffix("/v2"),
        )
        await client.start()
        try:
            await client.subscribe(params={"channel": "executions", "snap_orders": True}, req_id=1)
            ack = await wait(lambda m: m.get("method") == "subscribe" and m.get("req_id") == 1)
            assert ack["success"] is True
            await client.send_message(
                {
                    "method": "add_order",
                    "req_id": 2,
                    "params": {
                        "order_type": "limit",
                        "side": "buy",
                        "order_qty": 0.01,
                        "limit_price": 50000.0,
                        "symbol": "BTC/USD",
                        "order_userref": 123456789,
                    },
                }
            )
            added = await wait(lambda m: m.get("method") == "add_order")
            assert added["success"] is True, added
            order_id = added["result"]["order_id"]
            await wait(
                lambda m: (
                    m.get("channel") == "executions"
                    and any(r.get("exec_type") == "new" for r in m["data"])
                )
            )
            open_orders = User(sim.api_key, sim.api_secret, url=sim.rest_url).get_open_orders()
            assert list(open_orders["open"]) == [order_id]
            await client.send_message(
                {"method": "cancel_order", "req_id": 3, "params": {"order_id": [order_id]}}
            )
            canceled = await wait(lambda m: m.get("method") == "cancel_order")
            assert canceled["success"] is True and canceled["result"]["order_id"] == order_id
            await wait(
                lambda m: (
                    m.get("channel") == "executions"
                    and any(r.get("exec_type") == "canceled" for r in m["data"])
                )
            )
        finally:
            await client.close()

    asyncio.run(scenario())
    assert sim.exchange.state()["orders"][0]["status"] == "canceled"
    assert messages[0]["channel"] == "status"
