"""Kraken's REST API on the simulator: signed private endpoints and a few public ones.

Transport-free: `private(...)` and `public(...)` take the request pieces and return the JSON
envelope `{"error": [...], "result": ...}` (HTTP 200 even for API errors, as Kraken does).
Numbers are strings, times float epoch seconds, pairs REST ids, order objects Kraken's fields.
"""

from __future__ import annotations

import binascii
import hmac
from collections.abc import Callable
from decimal import Decimal
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from engine.kraken.codec import CodecError, decode, format_decimal
from engine.kraken.signing import kraken_sign
from engine.simulator import params as p
from engine.simulator.model import (
    LIMIT_PRICED,
    TRIGGERED,
    Order,
    SimError,
    Trade,
    epoch,
    parse_rfc3339,
    rfc3339_s,
)
from engine.simulator.pairs import PAIRS, find_rest_pair, find_ws_pair

if TYPE_CHECKING:
    from engine.simulator.exchange import Exchange

__all__ = ["TRADING_METHODS", "private", "public"]

Envelope = dict[str, Any]
TRADING_METHODS = frozenset(
    {
        "AddOrder",
        "AddOrderBatch",
        "AmendOrder",
        "EditOrder",
        "CancelOrder",
        "CancelAll",
        "CancelAllOrdersAfter",
        "CancelOrderBatch",
    }
)
_PAGE = 50
_REST_STATUS = {
    "pending_new": "pending",
    "new": "open",
    "partially_filled": "open",
    "filled": "closed",
    "canceled": "canceled",
    "expired": "expired",
}


def _error(message: str) -> Envelope:
    return {"error": [message]}


def _ok(result: Any) -> Envelope:
    return {"error": [], "result": result}


def _fmt(value: Decimal | None, decimals: int) -> str:
    """At least `decimals` places (Kraken's padding), never dropping a significant digit."""
    if value is None:
        value = Decimal(0)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= decimals:
        value = value.quantize(Decimal(1).scaleb(-decimals))
    return format_decimal(value)


# ---------------------------------------------------------------------- body and auth


def _parse_body(body: bytes, content_type: str) -> dict[str, Any]:
    text = body.decode("utf-8")
    if "json" in content_type.lower():
        try:
            return decode(text) if text.strip() else {}
        except CodecError:
            raise SimError("EGeneral:Invalid arguments") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def _authenticate(
    exchange: Exchange, path: str, headers: dict[str, str], body: bytes, params: dict[str, Any]
) -> str:
    api_key = headers.get("api-key", "")
    secret = exchange.secret(api_key) if api_key else None
    if secret is None:
        raise SimError("EAPI:Invalid key")
    nonce = params.get("nonce")
    if isinstance(nonce, bool) or not isinstance(nonce, int | str):
        raise SimError("EAPI:Invalid nonce")
    nonce_text = str(nonce)
    try:
        expected = kraken_sign(path, nonce_text, body.decode("utf-8"), secret)
        given = headers.get("api-sign", "")
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise SimError("EAPI:Invalid signature")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SimError("EAPI:Invalid signature") from None
    try:
        value = int(nonce_text)
    except ValueError:
        raise SimError("EAPI:Invalid nonce") from None
    if not 0 < value < 2**64 or not exchange.accept_nonce(api_key, value):
        raise SimError("EAPI:Invalid nonce")
    return api_key


def private(exchange: Exchange, method: str, headers: dict[str, str], body: bytes) -> Envelope:
    """One `POST /0/private/<method>`; header names in `headers` are lower-case."""
    try:
        params = _parse_body(body, headers.get("content-type", ""))
        api_key = _authenticate(exchange, f"/0/private/{method}", headers, body, params)
        handler = _PRIVATE.get(method)
        if handler is None:
            return _error("EGeneral:Unknown method")
        if method in TRADING_METHODS:
            with exchange.lock:
                injected = exchange.faults.take_failure("rest")
                exchange.fault_changed()
            if injected is not None:
                return _error(injected)
        elif method != "GetWebSocketsToken":
            with exchange.lock:
                injected = exchange.faults.take_query_failure()
                exchange.fault_changed()
            if injected is not None:
                return _error(injected)
        if method == "GetWebSocketsToken":
            with exchange.lock:
                refused = exchange.faults.take("refuse_token_requests")
                exchange.fault_changed()
            if refused:
                return _error("EService:Unavailable")
        return _ok(handler(exchange, api_key, params))
    except SimError as exc:
        return _error(exc.error)


# ---------------------------------------------------------------------- order objects


def _descr(order: Order) -> dict[str, Any]:
    spec = order.spec
    pair = find_ws_pair(spec.symbol)
    assert pair is not None
    trigger = spec.triggers["price"] if spec.triggers else None
    if spec.order_type in TRIGGERED:
        price = trigger
        price2 = spec.limit_price if spec.order_type in LIMIT_PRICED else None
    else:
        price, price2 = spec.limit_price, None
    vol = _fmt(spec.order_qty, pair.lot_decimals)
    text = f"{spec.side} {vol} {pair.altname} @ "
    if spec.order_type == "market":
        text += "market"
    elif spec.order_type in ("limit", "iceberg"):
        text += f"limit {_fmt(price, pair.pair_decimals)}"
    else:
        text += f"{spec.order_type.replace('-', ' ')} {_fmt(price, pair.pair_decimals)}"
        if price2 is not None:
            text += f" -> limit {_fmt(price2, pair.pair_decimals)}"
    return {
        "pair": pair.altname,
        "type": spec.side,
        "ordertype": spec.order_type,
        "price": _fmt(price, pair.pair_decimals) if price is not None else "0",
        "price2": _fmt(price2, pair.pair_decimals) if price2 is not None else "0",
        "leverage": "none",
        "order": text,
        "close": "",
    }


def _order(order: Order, *, trades: bool) -> dict[str, Any]:
    spec = order.spec
    pair = find_ws_pair(spec.symbol)
    assert pair is not None
    flags = [order.fee_ccy_pref]
    if spec.post_only:
        flags.insert(0, "post")
    if spec.no_mpp:
        flags.append("nompp")
    misc = []
    if order.cum_qty and order.is_open:
        misc.append("partial")
    if order.amended:
        misc.append("amended")
    out: dict[str, Any] = {
        "refid": None,
        "userref": spec.order_userref if spec.order_userref is not None else 0,
        "cl_ord_id": spec.cl_ord_id,
        "status": _REST_STATUS[order.status],
        "reason": order.reason,
        "opentm": epoch(order.created_at),
        "starttm": epoch(spec.effective_time),
        "expiretm": epoch(spec.expire_time),
        "descr": _descr(order),
        "vol": _fmt(spec.order_qty, pair.lot_decimals),
        "vol_exec": _fmt(order.cum_qty, pair.lot_decimals),
        "cost": _fmt(order.cum_cost, pair.cost_decimals),
        "fee": _fmt(order.fees, pair.cost_decimals),
        "price": _fmt(order.avg_price, pair.pair_decimals),
        "stopprice": _fmt(spec.triggers["price"] if spec.triggers else None, pair.cost_decimals),
        "limitprice": _fmt(
            spec.limit_price if spec.order_type in TRIGGERED else None, pair.cost_decimals
        ),
        "misc": ",".join(misc),
        "oflags": ",".join(flags),
    }
    if order.closed_at is not None:
        out["closetm"] = epoch(order.closed_at)
    if spec.triggers:
        out["trigger"] = spec.triggers.get("reference", "last")
    if trades and order.trade_ids:
        out["trades"] = list(order.trade_ids)
    return out


def _trade(trade: Trade) -> dict[str, Any]:
    pair = find_ws_pair(trade.symbol)
    assert pair is not None
    return {
        "ordertxid": trade.order_id,
        "postxid": trade.postxid,
        "pair": pair.rest_id,
        "time": epoch(trade.timestamp),
        "type": trade.side,
        "ordertype": trade.order_type,
        "price": _fmt(trade.price, pair.pair_decimals),
        "cost": _fmt(trade.cost, pair.cost_decimals),
        "fee": _fmt(trade.fee, pair.cost_decimals),
        "vol": _fmt(trade.qty, pair.lot_decimals),
        "margin": "0.00000",
        "leverage": "0",
        "misc": "",
        "trade_id": trade.trade_id,
        "maker": trade.liquidity_ind == "m",
    }


# ---------------------------------------------------------------------- queries


def _bound(exchange: Exchange, value: Any, name: str, lookup: str) -> float | None:
    """`start`/`end`: epoch seconds, or an order (trade) txid standing for its time."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value[:1] in ("O", "T") and "-" in value:
        if lookup == "order":
            order = exchange.order(value)
            if order is None:
                raise p.invalid(name)
            return order.created_at
        trade = exchange.trade(value)
        if trade is None:
            raise p.invalid(name)
        return trade.timestamp
    try:
        return float(value)
    except (TypeError, ValueError):
        raise p.invalid(name) from None


def _in_range(ts: float | None, start: float | None, end: float | None) -> bool:
    if ts is None:
        return False
    return (start is None or ts > start) and (end is None or ts <= end)


def _filters(params: dict[str, Any]) -> Callable[[Order], bool]:
    userref = p.rest_int(params, "userref")
    cl_ord_id = params.get("cl_ord_id") or None

    def keep(order: Order) -> bool:
        if userref is not None and order.spec.order_userref != userref:
            return False
        return cl_ord_id is None or order.spec.cl_ord_id == cl_ord_id

    return keep


def _open_orders(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    trades = p.rest_bool(params, "trades")
    keep = _filters(params)
    with exchange.lock:
        orders = [o for o in exchange.open_orders(api_key) if keep(o)]
        return {"open": {o.order_id: _order(o, trades=trades) for o in reversed(orders)}}


def _ofs(params: dict[str, Any]) -> int:
    ofs = p.rest_int(params, "ofs") or 0
    if ofs < 0:
        raise p.invalid("ofs")
    return ofs


def _closed_orders(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    trades = p.rest_bool(params, "trades")
    p.rest_bool(params, "consolidate_taker", True)
    without_count = p.rest_bool(params, "without_count")
    keep = _filters(params)
    closetime = params.get("closetime") or "both"
    if closetime not in ("open", "close", "both"):
        raise p.invalid("closetime")
    ofs = _ofs(params)
    with exchange.lock:
        start = _bound(exchange, params.get("start"), "start", "order")
        end = _bound(exchange, params.get("end"), "end", "order")
        closed = [o for o in exchange.orders(api_key) if not o.is_open and keep(o)]
        if start is not None or end is not None:

            def in_window(o: Order) -> bool:
                opened = _in_range(o.created_at, start, end)
                shut = _in_range(o.closed_at, start, end)
                return {"open": opened, "close": shut, "both": opened or shut}[closetime]

            closed = [o for o in closed if in_window(o)]
        closed.sort(key=lambda o: o.close_seq, reverse=True)
        page = closed[ofs : ofs + _PAGE]
        result: dict[str, Any] = {"closed": {o.order_id: _order(o, trades=trades) for o in page}}
        if not without_count:
            result["count"] = len(closed)
        return result


def _query_orders(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    trades = p.rest_bool(params, "trades")
    p.rest_bool(params, "consolidate_taker", True)
    txids = [t for t in str(params.get("txid") or "").split(",") if t]
    if not txids or len(txids) > 50:
        raise p.invalid("txid")
    keep = _filters({"userref": params.get("userref")})
    with exchange.lock:
        out = {}
        for txid in txids:
            order = exchange.order(txid)
            if order is None or order.api_key != api_key:
                raise SimError("EOrder:Invalid order")
            if keep(order):
                out[txid] = _order(order, trades=trades)
        return out


def _trades_history(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    p.rest_bool(params, "trades")
    p.rest_bool(params, "consolidate_taker", True)
    p.rest_bool(params, "ledgers")
    kind = params.get("type") or "all"
    if kind not in ("all", "any position", "closed position", "closing position", "no position"):
        raise p.invalid("type")
    ofs = _ofs(params)
    with exchange.lock:
        start = _bound(exchange, params.get("start"), "start", "trade")
        end = _bound(exchange, params.get("end"), "end", "trade")
        mine = [t for t in exchange.trades(api_key) if _in_range(t.timestamp, start, end)]
        if kind in ("closed position", "closing position"):
            mine = []
        mine.sort(key=lambda t: t.seq, reverse=True)
        page = mine[ofs : ofs + _PAGE]
        return {"trades": {t.exec_id: _trade(t) for t in page}, "count": len(mine)}


def _query_trades(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    p.rest_bool(params, "trades")
    txids = [t for t in str(params.get("txid") or "").split(",") if t]
    if not txids or len(txids) > 20:
        raise p.invalid("txid")
    with exchange.lock:
        out = {}
        for txid in txids:
            trade = exchange.trade(txid)
            if trade is None or trade.api_key != api_key:
                raise p.invalid("txid")
            out[txid] = _trade(trade)
        return out


def _balance(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    del exchange, api_key, params
    return {"ZUSD": "1000000.0000", "XXBT": "100.0000000000", "XETH": "1000.0000000000"}


def _token(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    del params
    return {"token": exchange.issue_token(api_key), "expires": 900}


# ---------------------------------------------------------------------- trading


def _rest_deadline(params: dict[str, Any]) -> float | None:
    value = params.get("deadline")
    if value is None or value == "":
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise p.invalid("deadline") from None


def _add_order(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    spec, _pair = p.parse_rest_order(params, exchange.now())
    validate = p.rest_bool(params, "validate")
    result: dict[str, Any] = {}

    def respond(orders: list[Order]) -> None:
        text = _descr(Order(api_key, "", spec, 0.0, 0))["order"]
        result["descr"] = {"order": text}
        if orders:
            result["txid"] = [o.order_id for o in orders]

    exchange.add_orders(
        api_key, [spec], respond, validate=validate, deadline=_rest_deadline(params)
    )
    return result


def _cancel_order(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    txid = params.get("txid")
    cl_ord_id = params.get("cl_ord_id")
    refs: list[tuple[str, str | int]] = []
    if txid not in (None, ""):
        text = str(txid)
        if text.lstrip("-").isdigit():
            refs.append(("order_userref", int(text)))
        else:
            refs.append(("order_id", text))
    elif cl_ord_id not in (None, ""):
        refs.append(("cl_ord_id", str(cl_ord_id)))
    else:
        raise p.invalid("txid")
    errors: list[str] = []

    def respond(order: Order | None, error: str | None, ref: tuple[str, str | int]) -> None:
        if order is None and error is not None:
            errors.append(error)

    count = exchange.cancel_orders(api_key, refs, respond)
    if count == 0:
        rate = "EOrder:Rate limit exceeded"
        raise SimError(rate if rate in errors else "EOrder:Unknown order")
    return {"count": count, "pending": False}


def _cancel_order_batch(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    orders = params.get("orders") or []
    cl_ord_ids = params.get("cl_ord_ids") or []
    if not isinstance(orders, list) or not isinstance(cl_ord_ids, list):
        raise p.invalid("orders")
    if not 1 <= len(orders) + len(cl_ord_ids) <= 50:
        raise p.invalid("orders")
    refs: list[tuple[str, str | int]] = []
    for entry in orders:
        value = entry.get("txid") if isinstance(entry, dict) else entry
        text = str(value)
        if text.lstrip("-").isdigit():
            refs.append(("order_userref", int(text)))
        else:
            refs.append(("order_id", text))
    for entry in cl_ord_ids:
        value = entry.get("cl_ord_id") if isinstance(entry, dict) else entry
        refs.append(("cl_ord_id", str(value)))
    count = exchange.cancel_orders(api_key, refs, lambda *_: None, batch=True)
    return {"count": count}


def _cancel_all(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    del params
    return {"count": exchange.cancel_all(api_key)}


def _cancel_after(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    timeout = p.rest_int(params, "timeout")
    if timeout is None or not 0 <= timeout < 86400:
        raise p.invalid("timeout")
    now, trigger = exchange.cancel_all_orders_after(api_key, timeout)
    return {
        "currentTime": rfc3339_s(now),
        "triggerTime": "0" if trigger is None else rfc3339_s(trigger),
    }


def _amend_order(exchange: Exchange, api_key: str, params: dict[str, Any]) -> Any:
    txid = params.get("txid") or None
    cl_ord_id = params.get("cl_ord_id") or None
    if (txid is None) == (cl_ord_id is None):
        raise p.invalid("txid")
    for name in ("order_qty", "limit_price", "display_qty", "trigger_price"):
        value = params.get(name)
        if isinstance(value, str) and (value[:1] in "+-#" or value.endswith("%")):
            raise p.invalid(name)  # relative prices are not simulated
    result: dict[str, Any] = {}

    def respond(amend_id: str, order: Order) -> None:
        result["amend_id"] = amend_id

    exchange.amend_order(
        api_key,
        order_id=None if txid is None else str(txid),
        cl_ord_id=None if cl_ord_id is None else str(cl_ord_id),
        order_qty=p.rest_decimal(params, "order_qty"),
        limit_price=p.rest_decimal(params, "limit_price"),
        display_qty=p.rest_decimal(params, "display_qty"),
        trigger_price=p.rest_decimal(params, "trigger_price"),
        post_only=p.rest_bool(params, "post_only"),
        deadline=_rest_deadline(params),
        respond=respond,
    )
    return result


_PRIVATE: dict[str, Callable[[Exchange, str, dict[str, Any]], Any]] = {
    "GetWebSocketsToken": _token,
    "Balance": _balance,
    "OpenOrders": _open_orders,
    "ClosedOrders": _closed_orders,
    "QueryOrders": _query_orders,
    "TradesHistory": _trades_history,
    "QueryTrades": _query_trades,
    "AddOrder": _add_order,
    "AmendOrder": _amend_order,
    "CancelOrder": _cancel_order,
    "CancelOrderBatch": _cancel_order_batch,
    "CancelAll": _cancel_all,
    "CancelAllOrdersAfter": _cancel_after,
}


# ---------------------------------------------------------------------- public


def public(exchange: Exchange, method: str, params: dict[str, str]) -> Envelope:
    """One `GET|POST /0/public/<method>`."""
    now = exchange.now()
    if method == "Time":
        return _ok({"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)})
    if method == "SystemStatus":
        return _ok({"status": "online", "timestamp": rfc3339_s(now)})
    if method == "AssetPairs":
        wanted = [name for name in (params.get("pair") or "").split(",") if name]
        pairs = list(PAIRS)
        if wanted:
            found = [find_rest_pair(name) for name in wanted]
            if any(pair is None for pair in found):
                return _error("EQuery:Unknown asset pair")
            pairs = [pair for pair in found if pair is not None]
        return _ok({pair.rest_id: pair.asset_pair_info() for pair in pairs})
    return _error("EGeneral:Unknown method")
