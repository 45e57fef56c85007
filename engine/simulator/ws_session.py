"""One WebSocket v2 connection: the reader loop (requests in), a writer thread (frames out).

The reader runs on the HTTP handler's thread and answers requests synchronously by calling
the exchange. Everything outbound goes through one queue drained by the writer thread, which
coalesces whatever is queued into a single `sendall`; the exchange pushes executions into the
same queue while holding its lock, so responses and reports leave in the exchange's order and
a slow client can never stall the exchange. Heartbeats are the writer's idle work.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any

from engine.kraken.codec import CodecError, decode
from engine.simulator import params as p
from engine.simulator.model import Order, SimError, rfc3339, rfc3339_s
from engine.simulator.websocket import (
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    close_payload,
    encode_frame,
)
from engine.simulator.wire import dumps

if TYPE_CHECKING:
    from engine.simulator.exchange import Exchange

__all__ = ["SessionRegistry", "WsSession"]

_DROP = object()
_TRADING = frozenset(
    {
        "add_order",
        "amend_order",
        "edit_order",
        "cancel_order",
        "cancel_all",
        "cancel_all_orders_after",
        "batch_add",
        "batch_cancel",
    }
)
_SUBSCRIBE_FIELDS = frozenset(
    {
        "channel",
        "token",
        "snap_orders",
        "snap_trades",
        "order_status",
        "ratecounter",
        "rebased",
        "users",
        "snapshot",
        "snapshot_trades",
    }
)
_QUIET_EXEC_TYPES = frozenset({"new", "trade", "filled", "canceled", "expired"})


class SessionRegistry:
    """The open sessions, for fault knobs that act on every connection."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange
        self._sessions: set[WsSession] = set()

    def add(self, session: WsSession) -> None:
        with self._exchange.lock:
            self._sessions.add(session)

    def remove(self, session: WsSession) -> None:
        with self._exchange.lock:
            self._sessions.discard(session)

    def all(self) -> list[WsSession]:
        with self._exchange.lock:
            return list(self._sessions)

    def drop_all(self, *, now: bool) -> int:
        """Drop every connection: at once (`now`) or after the frames already queued."""
        sessions = self.all()
        for session in sessions:
            session.drop(now=now)
        return len(sessions)


class _Request:
    __slots__ = ("delay", "method", "req_id", "swallow", "time_in")

    def __init__(self, method: str, req_id: Any, time_in: str) -> None:
        self.method = method
        self.req_id = req_id
        self.time_in = time_in
        self.swallow = False
        self.delay = 0.0


class WsSession:
    """Kraken's `ws-auth.kraken.com/v2` behaviour on one socket (public methods work too)."""

    def __init__(
        self,
        exchange: Exchange,
        registry: SessionRegistry,
        sock: socket.socket,
        rfile: BufferedIOBase,
    ) -> None:
        self._exchange = exchange
        self._registry = registry
        self._sock = sock
        self._rfile = rfile
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sequence = 0
        self._subscribed_key: str | None = None
        self._order_status = True
        self._closed = threading.Event()
        self._last_sent = time.monotonic()

    # ------------------------------------------------------------------ outbound

    def _enqueue_json(self, frame: dict[str, Any], *, count: bool = True) -> None:
        data = encode_frame(OP_TEXT, dumps(frame).encode())
        self._enqueue_raw(data, count=count)

    def _enqueue_raw(self, data: bytes, *, count: bool = True) -> None:
        if self._closed.is_set():
            return
        if count:
            with self._exchange.lock:
                self._queue.put(data)
                if self._exchange.faults.count_frame():
                    self._registry.drop_all(now=False)
                    self._exchange.fault_changed()
        else:
            self._queue.put(data)

    def send_malformed(self) -> None:
        self._enqueue_raw(encode_frame(OP_TEXT, b"{malformed frame"), count=False)

    def drop(self, *, now: bool) -> None:
        """Abrupt close, no close frame (a network drop); `now=False` flushes the queue first."""
        if now:
            self._abort()
        else:
            self._queue.put(_DROP)

    def _abort(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def on_executions(self, reports: list[dict[str, Any]], repeat: int = 1) -> None:
        """Called by the exchange under its lock: stamp a sequence number and queue.

        `repeat` > 1 sends the identical frame again (same sequence), like a replay.
        """
        if not self._order_status:
            reports = [r for r in reports if r.get("exec_type") in _QUIET_EXEC_TYPES]
            if not reports:
                return
        self._sequence += 1
        frame = {
            "channel": "executions",
            "type": "update",
            "data": reports,
            "sequence": self._sequence,
        }
        for _ in range(repeat):
            self._enqueue_json(frame)

    def _writer(self) -> None:
        heartbeat = self._exchange.behaviour.heartbeat_interval
        try:
            while True:
                timeout = None
                if self._subscribed_key is not None:
                    timeout = max(0.0, heartbeat - (time.monotonic() - self._last_sent))
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    self._sock.sendall(encode_frame(OP_TEXT, b'{"channel":"heartbeat"}'))
                    self._last_sent = time.monotonic()
                    continue
                items = [item]
                with contextlib.suppress(queue.Empty):
                    while len(items) < 512:
                        items.append(self._queue.get_nowait())
                chunks: list[bytes] = []
                for entry in items:
                    if entry is _DROP:
                        if chunks:
                            self._sock.sendall(b"".join(chunks))
                        self._abort()
                        return
                    if isinstance(entry, tuple):  # close frame: send it, then stop
                        chunks.append(entry[0])
                        self._sock.sendall(b"".join(chunks))
                        self._abort()
                        return
                    chunks.append(entry)
                self._sock.sendall(b"".join(chunks))
                self._last_sent = time.monotonic()
        except OSError:
            self._abort()

    # ------------------------------------------------------------------ inbound

    def run(self) -> None:
        """Serve the connection until it closes (runs on the HTTP handler's thread)."""
        self._exchange.connection_opened()
        self._registry.add(self)
        writer = threading.Thread(target=self._writer, name="sim-ws-writer", daemon=True)
        writer.start()
        self._enqueue_json(
            {
                "channel": "status",
                "type": "update",
                "data": [
                    {
                        "api_version": "v2",
                        "connection_id": (1 << 63) + secrets.randbelow(1 << 63),
                        "system": "online",
                        "version": "2.0.10",
                    }
                ],
            }
        )
        reader = FrameReader(self._rfile)
        try:
            self._sock.settimeout(self._exchange.behaviour.idle_timeout)
            while not self._closed.is_set():
                try:
                    message = reader.read()
                except ProtocolError as exc:
                    self._queue.put((encode_frame(OP_CLOSE, close_payload(exc.code)),))
                    break
                if message is None:
                    break
                opcode, payload = message
                if opcode == OP_TEXT:
                    self._handle_text(payload)
                elif opcode == OP_PING:
                    self._enqueue_raw(encode_frame(OP_PONG, payload), count=False)
                elif opcode == OP_CLOSE:
                    code = payload[:2] if len(payload) >= 2 else b""
                    self._queue.put((encode_frame(OP_CLOSE, code),))
                    break
                # binary frames and unsolicited pongs are ignored
        except (OSError, ValueError):
            pass
        finally:
            self._closed.set()
            if self._subscribed_key is not None:
                self._exchange.remove_listener(self._subscribed_key, self)
            self._queue.put(_DROP)
            writer.join(timeout=2)
            self._abort()
            self._registry.remove(self)
            self._exchange.connection_closed()

    def _handle_text(self, payload: bytes) -> None:
        time_in = rfc3339(self._exchange.now())
        try:
            msg = decode(payload)
        except CodecError:
            self._enqueue_json(
                {
                    "error": "EGeneral:Invalid arguments",
                    "success": False,
                    "time_in": time_in,
                    "time_out": rfc3339(self._exchange.now()),
                }
            )
            return
        method = msg.get("method")
        req = _Request(str(method), msg.get("req_id"), time_in)
        params = msg.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            self._respond(req, error="EGeneral:Invalid arguments:params")
            return
        if method == "ping":
            frame: dict[str, Any] = {"method": "pong"}
            if req.req_id is not None:
                frame["req_id"] = req.req_id
            frame["time_in"] = time_in
            frame["time_out"] = rfc3339(self._exchange.now())
            self._enqueue_json(frame)
            return
        if method in ("subscribe", "unsubscribe"):
            self._subscription(req, params, subscribe=method == "subscribe")
            return
        if method not in _TRADING:
            self._respond(req, error="Unsupported event")
            return
        api_key = self._exchange.resolve_token(params.get("token"))
        if api_key is None:
            self._respond(req, error=self._exchange.behaviour.token_error)
            return
        with self._exchange.lock:
            injected = self._exchange.faults.take_failure("ws")
            if injected is None:
                if self._exchange.faults.take("swallow_responses"):
                    req.swallow = True
                elif self._exchange.faults.delay_s > 0:
                    req.delay = self._exchange.faults.delay_s
                    self._exchange.faults.fired["delay_responses"] += 1
            self._exchange.fault_changed()
        if injected is not None:
            self._respond(req, error=injected)
            return
        handler: Callable[[_Request, str, dict[str, Any]], None] = getattr(self, "_m_" + method)
        try:
            handler(req, api_key, params)
        except p.SchemaError as exc:
            if not self._exchange.behaviour.req_id_on_schema_errors:
                req.req_id = None
            self._respond(req, error=exc.error)
        except SimError as exc:
            self._respond(req, error=exc.error)

    # ------------------------------------------------------------------ responses

    def _respond(
        self,
        req: _Request,
        *,
        result: Any = None,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
        has_result: bool = True,
    ) -> None:
        if req.swallow:
            return
        frame: dict[str, Any] = {"method": req.method}
        if req.req_id is not None:
            frame["req_id"] = req.req_id
        if error is not None:
            frame["error"] = error
            frame["success"] = False
        else:
            if has_result:
                frame["result"] = result
            frame["success"] = True
        if extra:
            frame.update(extra)
        frame["time_in"] = req.time_in
        if req.delay > 0:
            timer = threading.Timer(req.delay, self._late, args=(frame,))
            timer.daemon = True
            timer.start()
            return
        frame["time_out"] = rfc3339(self._exchange.now())
        self._enqueue_json(frame)

    def _late(self, frame: dict[str, Any]) -> None:
        frame["time_out"] = rfc3339(self._exchange.now())
        self._enqueue_json(frame)

    # ------------------------------------------------------------------ subscriptions

    def _subscription(self, req: _Request, params: dict[str, Any], *, subscribe: bool) -> None:
        channel = params.get("channel")
        if channel != "executions":
            self._respond(req, error="Subscription name invalid")
            return
        try:
            p.check_fields(params, _SUBSCRIBE_FIELDS, req.method)
            snap_orders = p.ws_bool(params, "snap_orders", True)
            snap_trades = p.ws_bool(params, "snap_trades", p.ws_bool(params, "snapshot_trades"))
            order_status = p.ws_bool(params, "order_status", True)
        except SimError as exc:
            self._respond(req, error=exc.error)
            return
        api_key = self._exchange.resolve_token(params.get("token"))
        if api_key is None:
            self._respond(req, error=self._exchange.behaviour.token_error)
            return
        if not subscribe:
            if self._subscribed_key is None:
                req.method = "subscribe"  # Kraken's observed reply to a needless unsubscribe
                self._respond(req, error="Subscription Not Found")
                return
            self._exchange.remove_listener(self._subscribed_key, self)
            self._subscribed_key = None
            self._respond(req, result={"channel": "executions"})
            return
        if self._subscribed_key is not None:
            self._respond(req, error="Already subscribed")
            return
        self._order_status = order_status
        ack = {
            "channel": "executions",
            "maxratecount": self._exchange.tier.threshold,
            "snap_orders": snap_orders,
            "snap_trades": snap_trades,
        }

        def snapshot(data: list[dict[str, Any]]) -> None:
            self._sequence += 1
            self._enqueue_json(
                {
                    "channel": "executions",
                    "type": "snapshot",
                    "data": data,
                    "sequence": self._sequence,
                }
            )

        self._subscribed_key = api_key
        self._exchange.add_listener(
            api_key,
            self,
            lambda: self._respond(req, result=ack),
            snapshot,
            snap_orders=snap_orders,
            snap_trades=snap_trades,
        )

    # ------------------------------------------------------------------ trading methods

    @staticmethod
    def _echo(order_id: str, cl_ord_id: str | None, userref: int | None) -> dict[str, Any]:
        result: dict[str, Any] = {"order_id": order_id}
        if cl_ord_id is not None:
            result["cl_ord_id"] = cl_ord_id
        if userref is not None:
            result["order_userref"] = userref
        return result

    def _m_add_order(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, p.ADD_FIELDS, "add order")
        if "symbol" not in params:
            raise p.invalid("symbol")
        spec = p.parse_ws_order(params, params["symbol"])
        validate = p.ws_bool(params, "validate")

        def respond(orders: list[Order]) -> None:
            order_id = orders[0].order_id if orders else ""
            self._respond(req, result=self._echo(order_id, spec.cl_ord_id, spec.order_userref))

        self._exchange.add_orders(
            api_key, [spec], respond, validate=validate, deadline=p.ws_deadline(params)
        )

    def _m_batch_add(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, p.BATCH_ADD_FIELDS, "batch add")
        rows = params.get("orders")
        if not isinstance(rows, list) or not 2 <= len(rows) <= 15:
            raise p.invalid("orders")
        if "symbol" not in params:
            raise p.invalid("symbol")
        specs = []
        for row in rows:
            if not isinstance(row, dict):
                raise p.invalid("orders")
            p.check_fields(row, p.BATCH_ORDER_FIELDS, "batch add")
            specs.append(p.parse_ws_order(row, params["symbol"]))
        validate = p.ws_bool(params, "validate")

        def respond(orders: list[Order]) -> None:
            ids = [o.order_id for o in orders] if orders else [""] * len(specs)
            result = [
                self._echo(oid, s.cl_ord_id, s.order_userref)
                for oid, s in zip(ids, specs, strict=True)
            ]
            self._respond(req, result=result)

        self._exchange.add_orders(
            api_key,
            specs,
            respond,
            validate=validate,
            deadline=p.ws_deadline(params),
            batch=True,
        )

    def _m_amend_order(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, p.AMEND_FIELDS, "amend order")
        order_id = p.ws_str(params, "order_id")
        cl_ord_id = p.ws_str(params, "cl_ord_id")
        if (order_id is None) == (cl_ord_id is None):
            raise p.invalid("order_id")
        order_qty = p.ws_decimal(params, "order_qty")
        limit_price = p.ws_decimal(params, "limit_price")
        display_qty = p.ws_decimal(params, "display_qty")
        trigger_price = p.ws_decimal(params, "trigger_price")
        if (
            order_qty is None
            and limit_price is None
            and display_qty is None
            and (trigger_price is None)
        ):
            raise p.invalid("order_qty")
        for name in ("limit_price_type", "trigger_price_type"):
            if params.get(name, "static") not in ("static", "pct", "quote"):
                raise p.invalid(name)

        def respond(amend_id: str, order: Order) -> None:
            result: dict[str, Any] = {"amend_id": amend_id}
            if order_id is not None:
                result["order_id"] = order_id
            else:
                result["cl_ord_id"] = cl_ord_id
            self._respond(req, result=result)

        self._exchange.amend_order(
            api_key,
            order_id=order_id,
            cl_ord_id=cl_ord_id,
            order_qty=order_qty,
            limit_price=limit_price,
            display_qty=display_qty,
            trigger_price=trigger_price,
            post_only=p.ws_bool(params, "post_only"),
            deadline=p.ws_deadline(params),
            respond=respond,
        )

    def _m_edit_order(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, p.EDIT_FIELDS, "edit order")
        order_id = p.ws_str(params, "order_id")
        if order_id is None:
            raise p.invalid("order_id")
        symbol = p.ws_str(params, "symbol")
        if symbol is None:
            raise p.invalid("symbol")
        limit_price = p.ws_decimal(params, "limit_price")
        if limit_price is None:
            limit_price = p.ws_decimal(params, "price")
        userref = p.ws_int(params, "order_userref")
        fee_pref = p.ws_str(params, "fee_preference")
        if fee_pref is not None and fee_pref not in ("base", "quote"):
            raise p.invalid("fee_preference")

        def respond(new: Order | None, old: Order) -> None:
            self._respond(
                req,
                result={
                    "order_id": new.order_id if new is not None else "",
                    "original_order_id": old.order_id,
                },
            )

        self._exchange.edit_order(
            api_key,
            order_id,
            symbol,
            order_qty=p.ws_decimal(params, "order_qty"),
            limit_price=limit_price,
            display_qty=p.ws_decimal(params, "display_qty"),
            triggers=params.get("triggers"),
            post_only=params.get("post_only") if "post_only" in params else None,
            reduce_only=params.get("reduce_only") if "reduce_only" in params else None,
            fee_preference=fee_pref,
            order_userref=userref,
            validate=p.ws_bool(params, "validate"),
            deadline=p.ws_deadline(params),
            respond=respond,
        )

    def _m_cancel_order(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, frozenset({"order_id", "cl_ord_id", "order_userref", "token"}),
                       "cancel order")  # fmt: skip
        refs: list[tuple[str, str | int]] = []
        refs.extend(("order_id", v) for v in p.ws_str_list(params, "order_id") or [])
        refs.extend(("cl_ord_id", v) for v in p.ws_str_list(params, "cl_ord_id") or [])
        userrefs = params.get("order_userref")
        if userrefs is not None:
            if not isinstance(userrefs, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in userrefs
            ):
                raise p.invalid("order_userref")
            refs.extend(("order_userref", v) for v in userrefs)
        if not refs:
            raise p.invalid("order_id")

        def respond(order: Order | None, error: str | None, ref: tuple[str, str | int]) -> None:
            if order is None:
                self._respond(req, error=error)
                return
            result: dict[str, Any] = {"order_id": order.order_id}
            if ref[0] == "cl_ord_id":
                result["cl_ord_id"] = ref[1]
            self._respond(req, result=result)

        self._exchange.cancel_orders(api_key, refs, respond)

    def _m_cancel_all(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, frozenset({"token"}), "cancel all")
        count = self._exchange.cancel_all(api_key)
        self._respond(req, result={"count": count})

    def _m_cancel_all_orders_after(
        self, req: _Request, api_key: str, params: dict[str, Any]
    ) -> None:
        p.check_fields(params, frozenset({"timeout", "token"}), "cancel all orders after")
        timeout = p.ws_int(params, "timeout")
        if timeout is None or not 0 <= timeout < 86400:
            raise p.invalid("timeout")
        now, trigger = self._exchange.cancel_all_orders_after(api_key, timeout)
        self._respond(
            req,
            result={
                "currentTime": rfc3339_s(now),
                "triggerTime": "0" if trigger is None else rfc3339_s(trigger),
            },
        )

    def _m_batch_cancel(self, req: _Request, api_key: str, params: dict[str, Any]) -> None:
        p.check_fields(params, frozenset({"orders", "cl_ord_id", "token"}), "batch cancel")
        orders = p.ws_str_list(params, "orders") or []
        cl_ord_ids = p.ws_str_list(params, "cl_ord_id") or []
        if not 2 <= len(orders) + len(cl_ord_ids) <= 50:
            raise p.invalid("orders")
        refs: list[tuple[str, str | int]] = []
        for value in orders:
            if value.lstrip("-").isdigit():
                refs.append(("order_userref", int(value)))
            else:
                refs.append(("order_id", value))
        refs.extend(("cl_ord_id", v) for v in cl_ord_ids)
        count = self._exchange.cancel_orders(api_key, refs, lambda *_: None, batch=True)
        if self._exchange.behaviour.batch_cancel_shape == "orders_cancelled":
            self._respond(req, extra={"orders_cancelled": count}, has_result=False)
        else:
            self._respond(req, result={"count": count})
