"""Request parameters -> `OrderSpec`, for WS v2 (typed JSON) and REST (strings or JSON).

Kraken checks the shape of a request before it looks at the market: unknown fields are
refused with `Unsupported field: '<name>' for the given msg type: <msg type>`, malformed values
with `EGeneral:Invalid arguments:<field>`. Market-dependent checks (tick, minimums, limits)
belong to the exchange.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from engine.simulator.model import (
    LIMIT_PRICED,
    ORDER_TYPES,
    TRIGGERED,
    OrderSpec,
    SimError,
    parse_rfc3339,
    valid_cl_ord_id,
)
from engine.simulator.pairs import find_rest_pair

__all__ = [
    "ADD_FIELDS",
    "AMEND_FIELDS",
    "BATCH_ADD_FIELDS",
    "BATCH_ORDER_FIELDS",
    "EDIT_FIELDS",
    "SchemaError",
    "check_fields",
    "invalid",
    "parse_rest_order",
    "parse_ws_order",
    "rest_bool",
    "rest_int",
    "ws_bool",
    "ws_deadline",
    "ws_decimal",
    "ws_int",
    "ws_str_list",
]

ADD_FIELDS = frozenset(
    {
        "order_type", "side", "order_qty", "symbol", "limit_price", "limit_price_type",
        "triggers", "time_in_force", "margin", "post_only", "reduce_only", "effective_time",
        "expire_time", "deadline", "cl_ord_id", "order_userref", "conditional", "display_qty",
        "fee_preference", "no_mpp", "stp_type", "cash_order_qty", "validate", "sender_sub_id",
        "stop_price", "trigger", "token",
    }
)  # fmt: skip
BATCH_ORDER_FIELDS = ADD_FIELDS - {"symbol", "validate", "deadline", "token"}
BATCH_ADD_FIELDS = frozenset({"symbol", "orders", "deadline", "validate", "token"})
AMEND_FIELDS = frozenset(
    {
        "order_id", "cl_ord_id", "order_qty", "display_qty", "limit_price", "limit_price_type",
        "post_only", "trigger_price", "trigger_price_type", "deadline", "symbol", "token",
    }
)  # fmt: skip
EDIT_FIELDS = frozenset(
    {
        "order_id", "symbol", "order_qty", "limit_price", "display_qty", "triggers",
        "post_only", "reduce_only", "fee_preference", "order_userref", "no_mpp", "deadline",
        "validate", "price", "trigger", "stop_price", "token",
    }
)  # fmt: skip
_PRICE_TYPES = ("static", "pct", "quote")


class SchemaError(SimError):
    """An unknown field: Kraken answers these without echoing `req_id`."""


def invalid(name: str) -> SimError:
    return SimError(f"EGeneral:Invalid arguments:{name}")


def check_fields(params: dict[str, Any], allowed: frozenset[str], msg_type: str) -> None:
    for name in params:
        if name not in allowed:
            raise SchemaError(f"Unsupported field: '{name}' for the given msg type: {msg_type}")


# ---------------------------------------------------------------------- WS scalars


def ws_decimal(params: dict[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise invalid(name)
    return Decimal(value)


def ws_bool(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise invalid(name)
    return value


def ws_int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name)
    return value


def ws_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name)
    return value


def ws_time(params: dict[str, Any], name: str) -> float | None:
    value = ws_str(params, name)
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise invalid(name) from None


def ws_deadline(params: dict[str, Any]) -> float | None:
    return ws_time(params, "deadline")


def ws_str_list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(name)
    return list(value)


def _triggers(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("triggers")
    for key in value:
        if key not in ("reference", "price", "price_type"):
            raise invalid("triggers")
    price = value.get("price")
    if isinstance(price, bool) or not isinstance(price, int | Decimal):
        raise invalid("triggers")
    reference = value.get("reference", "last")
    price_type = value.get("price_type", "static")
    if reference not in ("last", "index") or price_type not in _PRICE_TYPES:
        raise invalid("triggers")
    return {"reference": reference, "price": Decimal(price), "price_type": price_type}


def _int32(value: int | None, name: str) -> int | None:
    if value is not None and not -(2**31) <= value < 2**31:
        raise invalid(name)
    return value


def parse_ws_order(params: dict[str, Any], symbol: Any) -> OrderSpec:
    """One `add_order` (or `batch_add` row) after the field-name check."""
    if not isinstance(symbol, str):
        raise invalid("symbol")
    order_type = params.get("order_type")
    if order_type not in ORDER_TYPES:
        raise invalid("order_type")
    side = params.get("side")
    if side not in ("buy", "sell"):
        raise invalid("side")
    cash = ws_decimal(params, "cash_order_qty")
    qty = ws_decimal(params, "order_qty")
    if qty is None and cash is None:
        raise invalid("order_qty")
    limit_price = ws_decimal(params, "limit_price")
    if order_type in LIMIT_PRICED and limit_price is None:
        raise invalid("limit_price")
    if order_type not in LIMIT_PRICED and limit_price is not None:
        raise invalid("limit_price")
    triggers = None
    if "triggers" in params:
        triggers = _triggers(params["triggers"])
    elif "stop_price" in params:
        stop = ws_decimal(params, "stop_price")
        ref = params.get("trigger", "last")
        triggers = {"reference": ref, "price": stop, "price_type": "static"}
    if order_type in TRIGGERED and triggers is None:
        raise invalid("triggers")
    if order_type not in TRIGGERED and triggers is not None:
        raise invalid("triggers")
    limit_price_type = ws_str(params, "limit_price_type")
    if limit_price_type is not None and (
        limit_price_type not in _PRICE_TYPES or order_type != "trailing-stop-limit"
    ):
        raise invalid("limit_price_type")
    tif = params.get("time_in_force", "gtc")
    if tif not in ("gtc", "gtd", "ioc", "fok"):
        raise invalid("time_in_force")
    if tif == "fok" and order_type not in LIMIT_PRICED:
        raise invalid("time_in_force")
    expire_time = ws_time(params, "expire_time")
    if tif == "gtd" and expire_time is None:
        raise invalid("expire_time")
    post_only = ws_bool(params, "post_only")
    if post_only and order_type not in LIMIT_PRICED:
        raise invalid("post_only")
    cl_ord_id = ws_str(params, "cl_ord_id")
    userref = _int32(ws_int(params, "order_userref"), "order_userref")
    if cl_ord_id is not None and userref is not None:
        raise invalid("cl_ord_id")
    if cl_ord_id is not None and not valid_cl_ord_id(cl_ord_id):
        raise invalid("cl_ord_id")
    conditional = params.get("conditional")
    if conditional is not None and (not isinstance(conditional, dict) or cl_ord_id is not None):
        raise invalid("conditional")
    display_qty = ws_decimal(params, "display_qty")
    if display_qty is not None and order_type != "iceberg":
        raise invalid("display_qty")
    fee_preference = ws_str(params, "fee_preference")
    if fee_preference is not None and fee_preference not in ("base", "quote"):
        raise invalid("fee_preference")
    stp_type = params.get("stp_type", "cancel_newest")
    if stp_type not in ("cancel_newest", "cancel_oldest", "cancel_both"):
        raise invalid("stp_type")
    sender_sub_id = ws_str(params, "sender_sub_id")
    if sender_sub_id is not None and not valid_cl_ord_id(sender_sub_id):
        raise invalid("sender_sub_id")
    if cash is not None and qty is None and (order_type != "market" or side != "buy"):
        raise invalid("cash_order_qty")
    return OrderSpec(
        symbol=symbol,
        side=side,
        order_type=order_type,
        order_qty=qty if qty is not None else Decimal(0),
        limit_price=limit_price,
        limit_price_type=limit_price_type,
        triggers=triggers,
        time_in_force=tif,
        post_only=post_only,
        reduce_only=ws_bool(params, "reduce_only"),
        margin=ws_bool(params, "margin"),
        effective_time=ws_time(params, "effective_time"),
        expire_time=expire_time,
        cl_ord_id=cl_ord_id,
        order_userref=userref,
        display_qty=display_qty,
        fee_preference=fee_preference,
        no_mpp=ws_bool(params, "no_mpp"),
        stp_type=stp_type,
        cash_order_qty=cash,
        conditional=conditional,
        sender_sub_id=sender_sub_id,
    )


# ---------------------------------------------------------------------- REST scalars


def rest_bool(params: dict[str, Any], name: str, default: bool = False) -> bool:
    """REST booleans: JSON true/false, or the strings `true`/`True`/`false`/`False`."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "True"):
        return True
    if value in ("false", "False"):
        return False
    raise invalid(name)


def rest_int(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(name) from None


def rest_decimal(params: dict[str, Any], name: str) -> Decimal | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(name)
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise invalid(name) from None
    if not result.is_finite():
        raise invalid(name)
    return result


def rest_time(params: dict[str, Any], name: str, now: float) -> float | None:
    """`starttm` / `expiretm`: 0 (unset), epoch seconds, or `+<seconds>` from now."""
    value = params.get(name)
    if value is None or value in ("", "0", 0):
        return None
    text = str(value)
    try:
        if text.startswith("+"):
            return now + float(text[1:])
        return float(text)
    except ValueError:
        raise invalid(name) from None


def parse_rest_order(params: dict[str, Any], now: float) -> tuple[OrderSpec, Any]:
    """AddOrder's REST spellings (§7.8) -> an `OrderSpec` and the REST pair."""
    pair = find_rest_pair(str(params.get("pair", "")))
    if pair is None:
        raise SimError("EQuery:Unknown asset pair")
    order_type = params.get("ordertype")
    if order_type not in ORDER_TYPES:
        raise invalid("ordertype")
    side = params.get("type")
    if side not in ("buy", "sell"):
        raise invalid("type")
    qty = rest_decimal(params, "volume")
    if qty is None:
        raise invalid("volume")
    for name in ("price", "price2"):
        text = params.get(name)
        if isinstance(text, str) and ((text[:1] in "+-#" and text) or text.endswith("%")):
            raise invalid(name)  # relative prices are not simulated
    price = rest_decimal(params, "price")
    price2 = rest_decimal(params, "price2")
    limit_price: Decimal | None = None
    triggers: dict[str, Any] | None = None
    reference = params.get("trigger") or "last"
    if reference not in ("last", "index"):
        raise invalid("trigger")
    if order_type in ("limit", "iceberg"):
        limit_price = price
    elif order_type in TRIGGERED:
        if price is None:
            raise invalid("price")
        triggers = {"reference": reference, "price": price, "price_type": "static"}
        if order_type in LIMIT_PRICED:
            limit_price = price2
    if order_type in LIMIT_PRICED and limit_price is None:
        raise invalid("price2" if order_type in TRIGGERED else "price")
    oflags = {flag for flag in str(params.get("oflags") or "").split(",") if flag}
    if not oflags <= {"post", "fcib", "fciq", "nompp", "viqc"}:
        raise invalid("oflags")
    tif = str(params.get("timeinforce") or "GTC").lower()
    if tif not in ("gtc", "gtd", "ioc", "fok"):
        raise invalid("timeinforce")
    expire = rest_time(params, "expiretm", now)
    if tif == "gtd" and expire is None:
        raise invalid("expiretm")
    userref = rest_int(params, "userref")
    cl_ord_id = params.get("cl_ord_id") or None
    if cl_ord_id is not None and (not isinstance(cl_ord_id, str) or not valid_cl_ord_id(cl_ord_id)):
        raise invalid("cl_ord_id")
    if cl_ord_id is not None and userref is not None:
        raise invalid("cl_ord_id")
    stp = str(params.get("stptype") or "cancel-newest")
    if stp not in ("cancel-newest", "cancel-oldest", "cancel-both"):
        raise invalid("stptype")
    if "post" in oflags and order_type not in LIMIT_PRICED:
        raise invalid("oflags")
    leverage = params.get("leverage")
    spec = OrderSpec(
        symbol=pair.symbol,
        side=side,
        order_type=order_type,
        order_qty=qty,
        limit_price=limit_price,
        triggers=triggers,
        time_in_force=tif,
        post_only="post" in oflags,
        reduce_only=rest_bool(params, "reduce_only"),
        margin=leverage not in (None, "", "none", "1", "1:1"),
        effective_time=rest_time(params, "starttm", now),
        expire_time=expire,
        cl_ord_id=cl_ord_id,
        order_userref=_int32(userref, "userref"),
        display_qty=rest_decimal(params, "displayvol"),
        fee_preference="base" if "fcib" in oflags else "quote" if "fciq" in oflags else None,
        no_mpp="nompp" in oflags,
        stp_type=stp.replace("-", "_"),
    )
    return spec, pair
