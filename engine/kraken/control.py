"""Connection-level messages (§3.4-3.7): ping/pong, heartbeat, status, subscribe/unsubscribe.

`classify` is the first step of every inbound frame: it routes on `method` (a reply to one of
our requests) or `channel` (a push), and never raises, because an unexpected frame is news
for the log, not a reason to drop the connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import fields as mf

from engine.errors import VenueProtocolError
from engine.kraken.envelope import InboundSchema, load_inbound, parse_response

__all__ = [
    "FRAME_KINDS",
    "StatusMessage",
    "SubscribeAck",
    "build_ping",
    "build_subscribe_executions",
    "build_unsubscribe_executions",
    "classify",
    "parse_control_result",
    "parse_pong",
    "parse_status",
]

FRAME_KINDS = (
    "response",
    "executions",
    "heartbeat",
    "status",
    "pong",
    "subscribe",
    "unsubscribe",
    "unknown",
)
_CHANNELS = frozenset({"executions", "heartbeat", "status"})


def classify(frame: Mapping[str, Any]) -> str:
    """One of `FRAME_KINDS`: method replies by method, pushes by channel."""
    method = frame.get("method")
    if isinstance(method, str):
        if method in ("pong", "subscribe", "unsubscribe"):
            return method
        if method == "ping":
            return "unknown"  # we never receive pings; an echo is not a response
        return "response"
    channel = frame.get("channel")
    if isinstance(channel, str) and channel in _CHANNELS:
        return channel
    return "unknown"


def build_ping(req_id: int | None = None) -> dict[str, Any]:
    """The application-level ping that keeps the socket inside Kraken's idle timeout."""
    frame: dict[str, Any] = {"method": "ping"}
    if req_id is not None:
        frame["req_id"] = req_id
    return frame


def build_subscribe_executions(
    token: str,
    req_id: int,
    snap_orders: bool = True,
    snap_trades: bool = True,
    order_status: bool | None = True,
) -> dict[str, Any]:
    """Subscribe to `executions` with every snapshot switch explicit (the docs disagree, §8.8).

    `order_status=None` leaves the switch out (Kraken's default, every transition).
    """
    params: dict[str, Any] = {
        "channel": "executions",
        "token": token,
        "snap_orders": snap_orders,
        "snap_trades": snap_trades,
    }
    if order_status is not None:
        params["order_status"] = order_status
    return {"method": "subscribe", "params": params, "req_id": req_id}


def build_unsubscribe_executions(token: str, req_id: int) -> dict[str, Any]:
    return {
        "method": "unsubscribe",
        "params": {"channel": "executions", "token": token},
        "req_id": req_id,
    }


@dataclass(frozen=True, slots=True)
class SubscribeAck:
    """The result of a subscribe/unsubscribe; `maxratecount` is the trading counter ceiling."""

    channel: str | None
    maxratecount: int | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel}
        for key in ("maxratecount", "snap_orders", "snap_trades"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


class _SubscribeResultSchema(InboundSchema):
    channel = mf.String()
    maxratecount = mf.Integer()
    snap_orders = mf.Boolean()
    snap_trades = mf.Boolean()
    warnings = mf.List(mf.String())


class _PongResultSchema(InboundSchema):
    warnings = mf.List(mf.String())


_SUBSCRIBE_RESULT = _SubscribeResultSchema()
_PONG_RESULT = _PongResultSchema()


def parse_control_result(method: str, result: Any) -> Any:
    """Typed result for subscribe/unsubscribe acks; other methods keep their raw result."""
    if method in ("subscribe", "unsubscribe"):
        d = load_inbound(_SUBSCRIBE_RESULT, result, f"{method} result")
        return SubscribeAck(
            d.get("channel"),
            d.get("maxratecount"),
            d.get("snap_orders"),
            d.get("snap_trades"),
            tuple(d.get("warnings") or ()),
        )
    if method == "pong":
        d = load_inbound(_PONG_RESULT, result, "pong result")
        return {"warnings": d["warnings"]} if d.get("warnings") else None
    return result


def parse_pong(frame: Mapping[str, Any]) -> tuple[int | None, datetime | None, datetime | None]:
    """`(req_id, time_in, time_out)` of a pong; the venue times feed the clock-skew estimate."""
    response = parse_response(frame)
    if response.method != "pong":
        raise VenueProtocolError(f"not a pong: {response.method!r}")
    return response.req_id, response.time_in, response.time_out


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """Trading engine state; `system` gates order entry (online, post_only, ...)."""

    system: str
    api_version: str | None = None
    connection_id: int | None = None  # exceeds 2**63 in Kraken's own example
    version: str | None = None


class _StatusDataSchema(InboundSchema):
    system = mf.String(required=True)
    api_version = mf.String()
    connection_id = mf.Integer()
    version = mf.String()


_STATUS_DATA = _StatusDataSchema()


def parse_status(frame: Mapping[str, Any]) -> StatusMessage:
    """The (last) element of a `status` push.

    Raises:
        VenueProtocolError: no readable `data` element.
    """
    data = frame.get("data")
    if not isinstance(data, list) or not data:
        raise VenueProtocolError(f"status frame without data: {frame!r}")
    d = load_inbound(_STATUS_DATA, data[-1], "status")
    return StatusMessage(
        d["system"], d.get("api_version"), d.get("connection_id"), d.get("version")
    )
