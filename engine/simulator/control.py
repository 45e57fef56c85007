"""The control API (`/_sim/...`, JSON, no auth) and `SimulatorControl`, its HTTP client.

Tests and benchmarks drive a simulator that may live in another process: read the ground
truth, fill orders, move reference prices, switch tiers and behaviours, and arm fault knobs.
Bodies go through the Decimal-exact codec so prices and quantities never pass through float.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import requests

from engine.kraken.codec import CodecError, decode, encode
from engine.simulator.model import SimError

if TYPE_CHECKING:
    from engine.simulator.exchange import Exchange
    from engine.simulator.ws_session import SessionRegistry

__all__ = ["ControlApi", "SimulatorControl"]

State = dict[str, Any]


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a number")
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{name} must be a number") from None


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value


class ControlApi:
    """Server side of `/_sim/`: `handle()` returns (HTTP status, JSON body)."""

    def __init__(self, exchange: Exchange, registry: SessionRegistry) -> None:
        self._exchange = exchange
        self._registry = registry

    def handle(self, verb: str, path: str, query: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = decode(body) if body.strip() else {}
        except CodecError as exc:
            return 400, {"error": str(exc)}
        name = path[len("/_sim/") :].strip("/")
        try:
            if verb == "GET" and name == "state":
                return 200, self._exchange.state()
            if verb == "GET" and name == "wait":
                args = parse_qs(query)
                after = int(args.get("after_version", ["-1"])[0])
                timeout = min(float(args.get("timeout", ["10"])[0]), 60.0)
                return 200, self._exchange.wait_version(after, timeout)
            if verb != "POST":
                return 404, {"error": f"unknown control endpoint {verb} {path}"}
            return 200, self._post(name, data)
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"error": str(exc)}
        except SimError as exc:
            return 400, {"error": exc.error}

    def _post(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        ex = self._exchange
        faults = ex.faults
        if name == "fill":
            qty = body.get("qty")
            price = body.get("price")
            trade = ex.fill(
                str(body["order_id"]),
                None if qty is None else _decimal(qty, "qty"),
                None if price is None else _decimal(price, "price"),
            )
            return {"exec_id": trade.exec_id, "qty": trade.qty, "price": trade.price}
        if name == "reference_price":
            ex.set_reference_price(str(body["symbol"]), _decimal(body["price"], "price"))
            return {}
        if name == "tier":
            ex.set_tier(str(body["tier"]))
            return {}
        if name == "behaviour":
            ex.set_behaviour(**body)
            return {}
        if name == "accounts":
            key, secret = ex.add_account(body.get("api_key"), body.get("api_secret"))
            return {"api_key": key, "api_secret": secret}
        if name == "invalidate_tokens":
            ex.invalidate_tokens()
            return {}
        with ex.lock:
            result: dict[str, Any] = {}
            if name == "faults/drop_connections":
                faults.fired["drop_connections"] += 1
                result["dropped"] = self._registry.drop_all(now=True)
            elif name == "faults/drop_after":
                n = _count(body, "n")
                faults.drop_after = n if n > 0 else None
            elif name == "faults/delay_responses":
                faults.delay_s = float(_decimal(body.get("seconds"), "seconds"))
            elif name == "faults/swallow_responses":
                faults.swallow = _count(body, "k")
            elif name == "faults/refuse_connections":
                faults.refuse_connections = _count(body, "n")
            elif name == "faults/refuse_token_requests":
                faults.refuse_tokens = _count(body, "n")
            elif name == "faults/fail_requests":
                transport = body.get("transport", "ws")
                if transport not in ("ws", "rest", "both"):
                    raise ValueError("transport is 'ws', 'rest' or 'both'")
                faults.fail = _count(body, "n")
                faults.fail_error = str(body.get("error") or "EService:Unavailable")
                faults.fail_transport = transport
            elif name == "faults/fail_rest_queries":
                faults.fail_queries = _count(body, "n")
                faults.fail_queries_error = str(body.get("error") or "EService:Unavailable")
            elif name == "faults/duplicate_next_execution":
                faults.duplicate_next += 1
            elif name == "faults/lose_next_execution":
                faults.lose_next += 1
            elif name == "faults/send_malformed_frame":
                faults.fired["send_malformed_frame"] += 1
                sessions = self._registry.all()
                for session in sessions:
                    session.send_malformed()
                result["sent"] = len(sessions)
            elif name == "faults/reset":
                faults.reset()
            else:
                raise ValueError(f"unknown control endpoint {name!r}")
            ex.fault_changed()
            return result


class SimulatorControl:
    """Client of a simulator's control API (same process or another one).

    Args:
        base_url: the simulator's control URL, e.g. `http://127.0.0.1:8765/_sim`.
        timeout: per HTTP call, in seconds (long-polls add their own wait).
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def _call(self, verb: str, name: str, body: dict[str, Any] | None = None,
              wait: float = 0.0) -> State:  # fmt: skip
        url = f"{self.base_url}/{name}"
        data = encode(body) if body is not None else None
        response = self._http.request(
            verb,
            url,
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=self._timeout + wait,
        )
        result = decode(response.text)
        if response.status_code != 200:
            raise ValueError(f"simulator control {name}: {result.get('error')}")
        return result

    # ground truth

    def state(self) -> State:
        """Orders, trades, dead man's switches, counters, version, connections, faults fired."""
        return self._call("GET", "state")

    def wait_for(self, predicate: Callable[[State], bool], timeout: float = 10.0) -> State:
        """Block until `predicate(state)` holds (long-polling); `TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout
        state = self.state()
        while not predicate(state):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"simulator state did not match within {timeout} s")
            wait = min(remaining, 5.0)
            state = self._call(
                "GET", f"wait?after_version={state['version']}&timeout={wait:.3f}", wait=wait
            )
        return state

    # controls

    def fill(
        self, order_id: str, qty: Decimal | str | None = None, price: Decimal | str | None = None
    ) -> State:
        """Fill a resting order (fully unless `qty`) at its limit price (or `price`), as maker."""
        body: dict[str, Any] = {"order_id": order_id}
        if qty is not None:
            body["qty"] = Decimal(str(qty))
        if price is not None:
            body["price"] = Decimal(str(price))
        return self._call("POST", "fill", body)

    def set_reference_price(self, symbol: str, price: Decimal | str) -> None:
        self._call("POST", "reference_price", {"symbol": symbol, "price": Decimal(str(price))})

    def set_tier(self, tier: str) -> None:
        self._call("POST", "tier", {"tier": tier})

    def set_behaviour(self, **options: Any) -> None:
        self._call("POST", "behaviour", dict(options))

    def add_account(
        self, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]:
        body = {k: v for k, v in (("api_key", api_key), ("api_secret", api_secret)) if v}
        result = self._call("POST", "accounts", body)
        return str(result["api_key"]), str(result["api_secret"])

    def invalidate_tokens(self) -> None:
        self._call("POST", "invalidate_tokens", {})

    # fault knobs

    def drop_connections(self) -> int:
        return int(self._call("POST", "faults/drop_connections", {})["dropped"])

    def drop_after(self, n: int) -> None:
        self._call("POST", "faults/drop_after", {"n": n})

    def delay_responses(self, seconds: float | Decimal) -> None:
        self._call("POST", "faults/delay_responses", {"seconds": Decimal(str(seconds))})

    def swallow_responses(self, k: int) -> None:
        self._call("POST", "faults/swallow_responses", {"k": k})

    def refuse_connections(self, n: int) -> None:
        self._call("POST", "faults/refuse_connections", {"n": n})

    def refuse_token_requests(self, n: int) -> None:
        self._call("POST", "faults/refuse_token_requests", {"n": n})

    def fail_requests(
        self, n: int, error: str = "EService:Unavailable", transport: str = "ws"
    ) -> None:
        self._call("POST", "faults/fail_requests", {"n": n, "error": error, "transport": transport})

    def fail_rest_queries(self, n: int, error: str = "EService:Unavailable") -> None:
        """The next n private REST queries (what reconciliation reads) answer `error`."""
        self._call("POST", "faults/fail_rest_queries", {"n": n, "error": error})

    def duplicate_next_execution(self) -> None:
        self._call("POST", "faults/duplicate_next_execution", {})

    def lose_next_execution(self) -> None:
        """The next executions update is never sent, though its sequence number is used."""
        self._call("POST", "faults/lose_next_execution", {})

    def send_malformed_frame(self) -> int:
        return int(self._call("POST", "faults/send_malformed_frame", {})["sent"])

    def reset_faults(self) -> None:
        self._call("POST", "faults/reset", {})
