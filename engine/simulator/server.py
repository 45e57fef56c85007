"""`Simulator`: one HTTP server on 127.0.0.1 serving REST, the WS v2 upgrade and `/_sim/`.

Kraken splits these across hosts (`api.kraken.com`, `ws-auth.kraken.com`); locally one port
keeps configuration trivial: REST at `/0/...`, WebSocket at `/v2`, control at `/_sim/`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.simulator import rest
from engine.simulator.control import ControlApi, SimulatorControl
from engine.simulator.exchange import Exchange
from engine.simulator.model import Behaviour
from engine.simulator.websocket import accept_key
from engine.simulator.wire import dumps
from engine.simulator.ws_session import SessionRegistry, WsSession

__all__ = ["Simulator"]


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        exchange: Exchange,
        registry: SessionRegistry,
        control: ControlApi,
    ) -> None:
        self.exchange = exchange
        self.registry = registry
        self.control = control
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: it costs throughput and could echo request lines."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, verb: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        body = self._body()
        if path.rstrip("/") == "/v2" and verb == "GET":
            self._upgrade()
            return
        if path.startswith("/0/private/"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            if verb != "POST":
                self._send_json(200, {"error": ["EGeneral:Invalid arguments"]})
                return
            method = path[len("/0/private/") :]
            self._send_json(200, rest.private(self.server.exchange, method, headers, body))
            return
        if path.startswith("/0/public/"):
            params = dict(parse_qsl(url.query))
            if verb == "POST" and body:
                params.update(parse_qsl(body.decode("utf-8", "replace")))
            method = path[len("/0/public/") :]
            self._send_json(200, rest.public(self.server.exchange, method, params))
            return
        if path.startswith("/_sim/"):
            status, payload = self.server.control.handle(verb, path, url.query, body)
            self._send_json(status, payload)
            return
        self._send_json(404, {"error": ["EGeneral:Unknown method"]})

    def _upgrade(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if key is None or upgrade != "websocket":
            self._send_json(400, {"error": ["websocket upgrade required"]})
            return
        exchange = self.server.exchange
        with exchange.lock:
            refused = exchange.faults.take("refuse_connections")
            if refused:
                exchange.fault_changed()
        if refused:
            self.close_connection = True
            self._send_json(503, {"error": ["EService:Unavailable"]})
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        self.end_headers()
        self.close_connection = True
        WsSession(exchange, self.server.registry, self.connection, self.rfile).run()


class Simulator:
    """A local Kraken Spot venue: WS v2 at `ws_url`, REST at `rest_url`, control API.

    Args:
        api_key / api_secret: the first account's credentials (generated when omitted;
            the secret is base64 of 64 random bytes, like Kraken's).
        host / port: where to listen; port 0 picks a free port.
        tier: rate-limit tier: `starter`, `intermediate`, `pro` or `unlimited`.
        accounts: further `(api_key, api_secret)` pairs (engines sharing one venue).
        clock: epoch-seconds clock, injectable so tests can age orders without waiting.
        seed: seeds order and trade ids for reproducible runs.
        behaviour: initial `Behaviour` options (see `engine.simulator.model.Behaviour`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tier: str = "pro",
        *,
        accounts: Iterable[tuple[str, str]] = (),
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
        behaviour: dict[str, Any] | None = None,
    ) -> None:
        self.exchange = Exchange(tier=tier, clock=clock or time.time, seed=seed)
        if behaviour:
            self.exchange.behaviour = Behaviour()
            self.exchange.behaviour.update(behaviour)
        self._api_key, self._api_secret = self.exchange.add_account(api_key, api_secret)
        for key, secret in accounts:
            self.exchange.add_account(key, secret)
        self._registry = SessionRegistry(self.exchange)
        self._host = host
        self._requested_port = port
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._control: SimulatorControl | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Simulator:
        if self._http is not None:
            return self
        self.exchange.start()
        self._http = _HttpServer(
            (self._host, self._requested_port),
            self.exchange,
            self._registry,
            ControlApi(self.exchange, self._registry),
        )
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sim-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is None:
            return
        self._http.shutdown()
        self._registry.drop_all(now=True)
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.exchange.stop()
        if self._control is not None:
            self._control.close()
            self._control = None
        self._http = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("simulator not started")
        return int(self._http.server_address[1])

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self.port}/v2"

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"{self.rest_url}/_sim"

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def api_secret(self) -> str:
        return self._api_secret

    @property
    def control(self) -> SimulatorControl:
        if self._control is None:
            self._control = SimulatorControl(self.control_url)
        return self._control

    def add_account(
        self, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]:
        """Another account (API key) on the same venue; returns its credentials."""
        return self.exchange.add_account(api_key, api_secret)
