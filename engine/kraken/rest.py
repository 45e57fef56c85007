"""REST private endpoints (§2, §7): signed request building and typed result parsing.

Pure: the nonce and the credentials are passed in, and the caller sends the bytes. The body
is serialised once and signed as is, because Kraken verifies the signature over the exact
bytes it receives. Results are mapped onto the same report types as the executions channel,
in WS vocabulary (`order_id`, `order_userref`, `BTC/USD`, `partially_filled`), so
reconciliation compares like with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from marshmallow import fields as mf

from engine.domain.reports import FillReport, OrderStatusReport
from engine.errors import (
    CredentialsRefused,
    LocalRejection,
    RateLimitExceeded,
    VenueProtocolError,
    VenueRejection,
)
from engine.kraken.codec import format_decimal
from engine.kraken.envelope import InboundSchema, InDecimal, InNested, load_inbound
from engine.kraken.pairs import PairMap
from engine.kraken.signing import kraken_sign
from engine.kraken.trading import CancelAllOrdersAfterResult, parse_cancel_after_result
from engine.kraken.venue_errors import ErrorKind, classify_error

__all__ = [
    "PRIVATE_PREFIX",
    "PreparedRequest",
    "WebSocketsToken",
    "build_private_request",
    "encode_form",
    "epoch_to_datetime",
    "parse_cancel_all",
    "parse_cancel_all_orders_after",
    "parse_closed_orders",
    "parse_open_orders",
    "parse_query_orders",
    "parse_query_trades",
    "parse_rest_envelope",
    "parse_trades_history",
    "parse_websockets_token",
]

PRIVATE_PREFIX = "/0/private/"
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """What to POST: `path` goes after the REST base URL, `body` is sent byte for byte."""

    path: str
    headers: dict[str, str] = field(repr=False)  # the API key stays out of logs
    body: str


def _form_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, float):
        raise LocalRejection(name, "floats are refused (they lose money): pass a Decimal")
    if isinstance(value, Sequence):
        # Kraken's list parameters (txid, orders) are comma-separated strings.
        return ",".join(_form_value(name, item) for item in value)
    raise LocalRejection(name, f"cannot send a {type(value).__name__} in a REST form")


def encode_form(nonce: int, params: Mapping[str, Any]) -> str:
    """The urlencoded body: `nonce` first, then the params in the caller's order."""
    if "nonce" in params:
        raise LocalRejection("nonce", "the nonce is passed separately, not as a param")
    pairs = [("nonce", str(nonce))]
    pairs.extend((k, _form_value(k, v)) for k, v in params.items() if v is not None)
    return urlencode(pairs)


def build_private_request(
    method: str, params: Mapping[str, Any], *, nonce: int, api_key: str, api_secret: str
) -> PreparedRequest:
    """A signed POST for `/0/private/<method>`; booleans as `true`/`false`, Decimals exact."""
    if not method.isalnum():
        raise LocalRejection("method", f"not a REST method name: {method!r}")
    path = PRIVATE_PREFIX + method
    body = encode_form(nonce, params)
    headers = {
        "API-Key": api_key,
        "API-Sign": kraken_sign(path, nonce, body, api_secret),
        "Content-Type": _FORM,
    }
    return PreparedRequest(path=path, headers=headers, body=body)


def parse_rest_envelope(body: Any, method: str) -> Any:
    """`result` of `{"error": [...], "result": ...}`; any `E...` error raises.

    Warnings (`W...`) ride along with a result and are ignored. The raised error string joins
    the `E` errors with `"; "`, the first one leading (that is the one `classify_error` reads).

    Raises:
        RateLimitExceeded: the error is a rate limit.
        CredentialsRefused: the key, its signature or its permissions were refused.
        VenueRejection: any other error.
        VenueProtocolError: not a Kraken envelope.
    """
    if not isinstance(body, Mapping):
        raise VenueProtocolError(f"{method}: REST body is not an object")
    errors = body.get("error", [])
    if isinstance(errors, str):
        errors = [errors]
    if not isinstance(errors, list):
        raise VenueProtocolError(f"{method}: REST error is not a list: {errors!r}")
    failures = [str(e) for e in errors if not str(e).startswith("W")]
    if failures:
        error = "; ".join(failures)
        kind = classify_error(error)
        if kind is ErrorKind.RATE_LIMITED:
            raise RateLimitExceeded(error, method, None)
        if kind is ErrorKind.FATAL:
            raise CredentialsRefused(error, method, None)
        raise VenueRejection(error, method, None)
    if "result" not in body:
        raise VenueProtocolError(f"{method}: REST body without result or error")
    return body["result"]


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class WebSocketsToken:
    """The WS auth token; its value never appears in `repr`."""

    token: str = field(repr=False)
    expires: int


class _TokenSchema(InboundSchema):
    token = mf.String(required=True)
    expires = mf.Integer(required=True)


_TOKEN = _TokenSchema()


def parse_websockets_token(result: Any) -> WebSocketsToken:
    d = load_inbound(_TOKEN, result, "GetWebSocketsToken result")
    return WebSocketsToken(d["token"], d["expires"])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_to_datetime(value: Any) -> datetime | None:
    """Kraken's float epoch seconds -> aware UTC datetime, exact to the microsecond; 0 -> None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError):
        raise VenueProtocolError(f"not an epoch time: {value!r}") from None
    if not number.is_finite():
        raise VenueProtocolError(f"not an epoch time: {value!r}")
    if number == 0:
        return None
    micros = (number * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN)
    return _EPOCH + timedelta(microseconds=int(micros))


class _DescrSchema(InboundSchema):
    pair = mf.String()
    type = mf.String()
    ordertype = mf.String()
    price = InDecimal()
    price2 = InDecimal()


class _OrderSchema(InboundSchema):
    userref = mf.Integer(allow_none=True)
    cl_ord_id = mf.String(allow_none=True)
    status = mf.String()
    reason = mf.String(allow_none=True)
    opentm = mf.Raw()
    closetm = mf.Raw()
    descr = InNested(_DescrSchema)
    vol = InDecimal()
    vol_exec = InDecimal()
    cost = InDecimal()
    price = InDecimal()
    misc = mf.String()
    oflags = mf.String()


class _TradeSchema(InboundSchema):
    ordertxid = mf.String(required=True)
    pair = mf.String()
    time = mf.Raw()
    type = mf.String()
    ordertype = mf.String()
    price = InDecimal(required=True)
    cost = InDecimal()
    fee = InDecimal()
    vol = InDecimal(required=True)
    trade_id = mf.Integer()
    maker = mf.Boolean()
    cl_ord_id = mf.String(allow_none=True)


_ORDER = _OrderSchema()
_TRADE = _TradeSchema()
_FINAL = frozenset({"closed", "canceled", "expired"})
# descr.price is the limit for these; for *-limit trigger types it is the trigger (§7.8).
_PRICE_IS_LIMIT = frozenset({"limit", "iceberg"})
_PRICE2_IS_LIMIT = frozenset({"stop-loss-limit", "take-profit-limit"})


def _ws_status(status: str | None, vol_exec: Decimal | None) -> str | None:
    if status == "open":
        return "partially_filled" if vol_exec else "new"
    return {"pending": "pending_new", "closed": "filled"}.get(status or "", status)


def _flags(text: str | None) -> frozenset[str]:
    return frozenset(t.strip() for t in (text or "").split(",") if t.strip())


def _symbol(rest_pair: str | None, pairs: PairMap | None) -> str | None:
    if rest_pair is None or pairs is None:
        return None
    return pairs.to_ws(rest_pair)


def _order_report(txid: str, raw: Any, pairs: PairMap | None) -> OrderStatusReport:
    d = load_inbound(_ORDER, raw, f"REST order {txid}")
    descr = d.get("descr") or {}
    order_type = descr.get("ordertype")
    status = d.get("status")
    vol_exec = d.get("vol_exec")
    limit_price = None
    if order_type in _PRICE_IS_LIMIT:
        limit_price = descr.get("price")
    elif order_type in _PRICE2_IS_LIMIT and descr.get("price2"):
        limit_price = descr.get("price2")
    opened = epoch_to_datetime(d.get("opentm"))
    closed = epoch_to_datetime(d.get("closetm"))
    return OrderStatusReport(
        order_id=txid,
        order_status=_ws_status(status, vol_exec),
        timestamp=closed if status in _FINAL and closed is not None else opened,
        cl_ord_id=d.get("cl_ord_id") or None,
        order_userref=d.get("userref"),
        symbol=_symbol(descr.get("pair"), pairs),
        side=descr.get("type"),
        order_type=order_type,
        order_qty=d.get("vol"),
        limit_price=limit_price,
        cum_qty=vol_exec,
        cum_cost=d.get("cost"),
        avg_price=d.get("price") if vol_exec else None,  # "0.00000" until something fills
        reason=d.get("reason"),
        amended=True if "amended" in _flags(d.get("misc")) else None,
        post_only="post" in _flags(d.get("oflags")),
        source="reconciliation",
        raw=dict(raw),
    )


def _orders(by_txid: Any, pairs: PairMap | None, what: str) -> list[OrderStatusReport]:
    if not isinstance(by_txid, Mapping):
        raise VenueProtocolError(f"{what}: expected an object of orders")
    return [_order_report(txid, order, pairs) for txid, order in by_txid.items()]


def _count(result: Mapping[str, Any], what: str) -> int:
    count = result.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int):
        raise VenueProtocolError(f"{what}: count is not an int: {count!r}")
    return count


def _as_mapping(result: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(result, Mapping):
        raise VenueProtocolError(f"{what}: result is not an object")
    return result


def parse_open_orders(result: Any, pairs: PairMap | None = None) -> list[OrderStatusReport]:
    """OpenOrders `result` -> reports; `symbol` is set only when `pairs` knows the REST pair."""
    return _orders(_as_mapping(result, "OpenOrders").get("open", {}), pairs, "OpenOrders")


def parse_closed_orders(
    result: Any, pairs: PairMap | None = None
) -> tuple[list[OrderStatusReport], int]:
    """ClosedOrders `result` -> (this page's reports, total matching count for paging)."""
    data = _as_mapping(result, "ClosedOrders")
    return _orders(data.get("closed", {}), pairs, "ClosedOrders"), _count(data, "ClosedOrders")


def parse_query_orders(result: Any, pairs: PairMap | None = None) -> list[OrderStatusReport]:
    """QueryOrders `result` (a bare txid -> order map) -> reports."""
    return _orders(result, pairs, "QueryOrders")


def _fill(txid: str, raw: Any, pairs: PairMap | None) -> FillReport:
    d = load_inbound(_TRADE, raw, f"REST trade {txid}")
    symbol = _symbol(d.get("pair"), pairs)
    maker = d.get("maker")
    return FillReport(
        exec_id=txid,
        order_id=d["ordertxid"],
        last_qty=d["vol"],
        last_price=d["price"],
        timestamp=epoch_to_datetime(d.get("time")),
        cost=d.get("cost"),
        fee=d.get("fee", Decimal(0)),
        fee_asset=symbol.partition("/")[2] if symbol else None,  # REST fees are in quote
        liquidity_ind=None if maker is None else ("m" if maker else "t"),
        trade_id=d.get("trade_id"),
        symbol=symbol,
        side=d.get("type"),
        cl_ord_id=d.get("cl_ord_id") or None,
        source="reconciliation",
        raw=dict(raw),
    )


def _fills(by_txid: Any, pairs: PairMap | None, what: str) -> list[FillReport]:
    if not isinstance(by_txid, Mapping):
        raise VenueProtocolError(f"{what}: expected an object of trades")
    return [_fill(txid, trade, pairs) for txid, trade in by_txid.items()]


def parse_trades_history(result: Any, pairs: PairMap | None = None) -> tuple[list[FillReport], int]:
    """TradesHistory `result` -> (this page's fills, total matching count for paging)."""
    data = _as_mapping(result, "TradesHistory")
    return _fills(data.get("trades", {}), pairs, "TradesHistory"), _count(data, "TradesHistory")


def parse_query_trades(result: Any, pairs: PairMap | None = None) -> list[FillReport]:
    """QueryTrades `result` (a bare txid -> trade map) -> fills."""
    return _fills(result, pairs, "QueryTrades")


def parse_cancel_all(result: Any) -> int:
    """CancelAll `result.count`."""
    return _count(_as_mapping(result, "CancelAll"), "CancelAll")


def parse_cancel_all_orders_after(result: Any) -> CancelAllOrdersAfterResult:
    """REST dead man's switch reply; the same camelCase keys as on WS."""
    return parse_cancel_after_result(result)
