"""Shared fixtures: a running simulator, and raw (non-engine) REST and WebSocket clients.

The raw clients are deliberately dumb — `requests` + `kraken_sign`, `websocket-client` — so
simulator tests check the wire, not our own engine's interpretation of it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import websocket

# helpers shared by test directories (`engine_support`), importable by name
sys.path.insert(0, str(Path(__file__).parent / "support"))

from engine.kraken.codec import decode, encode
from engine.kraken.signing import kraken_sign
from engine.simulator import Simulator


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for another thread's progress, bounded (no fixed sleep stands in for an event)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        tick.wait(0.001)


@pytest.fixture
def until() -> Callable[..., None]:
    """`until(predicate, timeout=5.0)`: poll another thread's progress, failing at the timeout."""
    return _until


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A started simulator on a free port, tier `unlimited`, stopped afterwards."""
    with Simulator(tier="unlimited") as simulator:
        yield simulator


class RestClient:
    """Signed Kraken REST calls with a strictly increasing nonce."""

    def __init__(self, base_url: str, api_key: str, api_secret: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.api_secret = api_secret
        self._nonce = int(time.time() * 1000)
        self.http = requests.Session()

    def next_nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        as_json: bool = False,
        nonce: int | None = None,
        api_key: str | None = None,
        secret: str | None = None,
    ) -> dict[str, Any]:
        path = f"/0/private/{method}"
        body_params = {"nonce": self.next_nonce() if nonce is None else nonce, **(params or {})}
        if as_json:
            body = encode(body_params)
            content_type = "application/json"
        else:
            body = urlencode(body_params)
            content_type = "application/x-www-form-urlencoded"
        sign = kraken_sign(path, body_params["nonce"], body, secret or self.api_secret)
        response = self.http.post(
            self.base_url + path,
            data=body,
            headers={
                "API-Key": api_key or self.api_key,
                "API-Sign": sign,
                "Content-Type": content_type,
            },
            timeout=10,
        )
        assert response.status_code == 200
        return decode(response.text)

    def result(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        reply = self.call(method, params, **kw)
        assert reply["error"] == [], reply
        return reply["result"]

    def public(self, method: str, **params: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base_url}/0/public/{method}", params=params, timeout=10)
        return decode(response.text)

    def token(self) -> str:
        return str(self.result("GetWebSocketsToken")["token"])


class WsClient:
    """A raw WS v2 connection that separates method responses from channel messages."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.ws = websocket.create_connection(url, timeout=5)
        self.token = token
        self.backlog: list[dict[str, Any]] = []
        self.status = self.recv()
        self._req_id = 0

    def recv(self) -> dict[str, Any]:
        return decode(self.ws.recv())

    def send(self, method: str, params: dict[str, Any] | None = None, req_id: Any = None,
             *, token: bool = True) -> int:  # fmt: skip
        if req_id is None:
            self._req_id += 1
            req_id = self._req_id
        body: dict[str, Any] = {"method": method, "req_id": req_id}
        if params is not None or (token and self.token):
            body["params"] = dict(params or {})
            if token and self.token and "token" not in body["params"]:
                body["params"]["token"] = self.token
        self.ws.send(encode(body))
        return int(req_id) if isinstance(req_id, int) else 0

    def response(self, method: str | None = None) -> dict[str, Any]:
        """The next method response (channel messages go to `backlog`)."""
        while True:
            frame = self.recv()
            if "channel" in frame:
                if frame["channel"] != "heartbeat":
                    self.backlog.append(frame)
                continue
            if method is None or frame.get("method") == method:
                return frame

    def request(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict:
        self.send(method, params, **kw)
        return self.response()

    def channel(self, name: str = "executions") -> dict[str, Any]:
        """The next message of a channel (backlog first); method responses are dropped."""
        for index, frame in enumerate(self.backlog):
            if frame.get("channel") == name:
                return self.backlog.pop(index)
        while True:
            frame = self.recv()
            if frame.get("channel") == name:
                return frame
            if "channel" in frame and frame["channel"] != "heartbeat":
                self.backlog.append(frame)

    def reports(self, count: int) -> list[dict[str, Any]]:
        """The next `count` executions reports, flattened across messages."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            out.extend(self.channel()["data"])
        return out

    def subscribe(self, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        ack = self.request("subscribe", {"channel": "executions", **params})
        assert ack["success"] is True, ack
        return ack, self.channel()

    def add(self, **params: Any) -> dict[str, Any]:
        order = {"order_type": "limit", "side": "buy", "order_qty": Decimal("0.01"),
                 "limit_price": Decimal("50000.0"), "symbol": "BTC/USD", **params}  # fmt: skip
        return self.request("add_order", order)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def rest(sim: Simulator) -> Iterator[RestClient]:
    client = RestClient(sim.rest_url, sim.api_key, sim.api_secret)
    yield client
    client.http.close()


@pytest.fixture
def rest_for(sim: Simulator) -> Iterator[Callable[..., RestClient]]:
    """REST clients for further accounts (API keys) on the same simulator."""
    made: list[RestClient] = []

    def _make(api_key: str, api_secret: str, base_url: str | None = None) -> RestClient:
        client = RestClient(base_url or sim.rest_url, api_key, api_secret)
        made.append(client)
        return client

    yield _make
    for client in made:
        client.http.close()


@pytest.fixture
def connect(sim: Simulator, rest: RestClient) -> Iterator[Callable[..., WsClient]]:
    """Open raw WS connections (with a fresh token unless told otherwise); closed afterwards."""
    opened: list[WsClient] = []

    def _open(token: str | None = "fresh", url: str | None = None) -> WsClient:
        client = WsClient(url or sim.ws_url, rest.token() if token == "fresh" else token)
        opened.append(client)
        return client

    yield _open
    for client in opened:
        with contextlib.suppress(Exception):
            client.close()


@pytest.fixture
def ws(connect: Callable[..., WsClient]) -> WsClient:
    """A connection subscribed to executions (snapshot consumed)."""
    client = connect()
    client.subscribe(snap_orders=True, snap_trades=True)
    return client


def jdump(value: Any) -> str:
    return json.dumps(value, default=str)
