"""Trading methods (§4): strict params schemas, request builders and typed results.

`build_params` is the last line before the wire: everything Kraken would refuse for a reason we
can see locally (shape, types, exclusive fields, missing prices, batch sizes, identifier
formats) is refused here as one `LocalRejection` naming the field, so nothing is sent. What
needs the venue's state or clock (tick size, funds, deadline window) is left to `pairs` and to
Kraken. The same schemas read a request back from the wire, so the simulator validates exactly
what the engine emits.

Field paths in rejections are dotted: `limit_price`, `triggers.price`, `orders.1.symbol`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields as mf
from marshmallow import validate as mv

from engine.errors import LocalRejection, VenueProtocolError
from engine.kraken.envelope import (
    INT32_MAX,
    INT32_MIN,
    ClientId,
    Enum,
    InboundSchema,
    OutBool,
    OutboundSchema,
    OutDecimal,
    OutInt,
    OutTime,
    Refused,
    format_time,
    load_inbound,
    load_outbound,
    parse_time,
)

__all__ = [
    "LIMIT_PRICED",
    "METHODS",
    "ORDER_TYPES",
    "TRIGGERED",
    "AddOrderResult",
    "AmendOrderResult",
    "BatchAddEntry",
    "BatchAddResult",
    "BatchCancelResult",
    "CancelAllOrdersAfterResult",
    "CancelAllResult",
    "CancelOrderResult",
    "EditOrderResult",
    "build_params",
    "build_request",
    "parse_cancel_after_result",
    "parse_params",
    "parse_trading_result",
]

ORDER_TYPES = (
    "limit",
    "market",
    "iceberg",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
    "settle-position",
)
LIMIT_PRICED = frozenset(
    {"limit", "iceberg", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
)
TRIGGERED = frozenset(
    {
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
_TRAILING = frozenset({"trailing-stop", "trailing-stop-limit"})
_CONDITIONAL_TYPES = (
    "limit",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
)
_PRICE_TYPES = ("static", "pct", "quote")
_TIME_IN_FORCE = ("gtc", "gtd", "ioc", "fok")
_STP_TYPES = ("cancel_newest", "cancel_oldest", "cancel_both")


def _fail(field: str, reason: str) -> ValidationError:
    return ValidationError(reason, field_name=field)


def _check_limit_price(
    order_type: str, price: Decimal | None, price_type: str | None, field: str = "limit_price"
) -> None:
    """Absolute prices must be positive; only trailing-stop-limit takes a signed offset."""
    if price is None:
        return
    is_offset = order_type == "trailing-stop-limit" and price_type in (None, "pct", "quote")
    if not is_offset and price <= 0:
        raise _fail(field, "must be positive")


# ---------------------------------------------------------------------------------------------
# Nested objects


class _TriggersSchema(OutboundSchema):
    reference = Enum("last", "index")
    price = OutDecimal(required=True)
    price_type = Enum(*_PRICE_TYPES)


class _ConditionalSchema(OutboundSchema):
    order_type = Enum(*_CONDITIONAL_TYPES, required=True)
    limit_price = OutDecimal()
    limit_price_type = Enum(*_PRICE_TYPES)
    trigger_price = OutDecimal()
    trigger_price_type = Enum(*_PRICE_TYPES)
    stop_price = Refused("deprecated by Kraken: use trigger_price")

    def check(self, data: dict[str, Any]) -> None:
        order_type = data["order_type"]
        limit_price = data.get("limit_price")
        if order_type in LIMIT_PRICED:
            if limit_price is None:
                raise _fail("limit_price", f"required for a {order_type} conditional")
        elif limit_price is not None:
            raise _fail("limit_price", f"not used by a {order_type} conditional")
        if "limit_price_type" in data and order_type != "trailing-stop-limit":
            raise _fail("limit_price_type", "only for a trailing-stop-limit conditional")
        _check_limit_price(order_type, limit_price, data.get("limit_price_type"))
        trigger_price = data.get("trigger_price")
        if order_type in TRIGGERED:
            if trigger_price is None:
                raise _fail("trigger_price", f"required for a {order_type} conditional")
            if trigger_price <= 0 and (
                order_type in _TRAILING or data.get("trigger_price_type", "static") == "static"
            ):
                raise _fail("trigger_price", "must be positive")
        else:
            if trigger_price is not None:
                raise _fail("trigger_price", f"not used by a {order_type} conditional")
            if "trigger_price_type" in data:
                raise _fail("trigger_price_type", f"not used by a {order_type} conditional")


# ---------------------------------------------------------------------------------------------
# add_order / batch_add orders


class _OrderSchema(OutboundSchema):
    """Fields of one order, shared by add_order and each batch_add entry."""

    order_type = Enum(*ORDER_TYPES, required=True)
    side = Enum("buy", "sell", required=True)
    order_qty = OutDecimal(positive=True)
    limit_price = OutDecimal()
    limit_price_type = Enum(*_PRICE_TYPES)
    triggers = mf.Nested(_TriggersSchema)
    time_in_force = Enum(*_TIME_IN_FORCE)
    margin = OutBool()
    post_only = OutBool()
    reduce_only = OutBool()
    effective_time = OutTime(precision="s")
    expire_time = OutTime(precision="s")
    cl_ord_id = ClientId()
    order_userref = OutInt(low=INT32_MIN, high=INT32_MAX)
    conditional = mf.Nested(_ConditionalSchema)
    display_qty = OutDecimal(positive=True)
    fee_preference = Enum("base", "quote")
    no_mpp = OutBool()
    stp_type = Enum(*_STP_TYPES)
    cash_order_qty = OutDecimal(positive=True)
    sender_sub_id = ClientId()
    stop_price = Refused("deprecated by Kraken: use triggers.price")
    trigger = Refused("deprecated by Kraken: use triggers.reference")
    leverage = Refused("not accepted on WS v2: use margin=True")
    price = Refused("not a WS v2 field: use limit_price")

    def check(self, data: dict[str, Any]) -> None:
        _check_order(data)


def _check_order(data: dict[str, Any]) -> None:
    order_type: str = data["order_type"]
    side: str = data["side"]
    qty: Decimal | None = data.get("order_qty")
    cash_qty = data.get("cash_order_qty")
    if cash_qty is not None:
        if order_type != "market" or side != "buy":
            raise _fail("cash_order_qty", "only for market buy orders")
        if data.get("margin"):
            raise _fail("cash_order_qty", "not allowed with margin")
        if qty is not None:
            raise _fail("cash_order_qty", "exclusive with order_qty")
    elif qty is None:
        raise _fail("order_qty", "Missing data for required field")

    limit_price = data.get("limit_price")
    if order_type in LIMIT_PRICED:
        if limit_price is None:
            raise _fail("limit_price", f"required for a {order_type} order")
    elif limit_price is not None:
        raise _fail("limit_price", f"not used by a {order_type} order")
    if "limit_price_type" in data and order_type != "trailing-stop-limit":
        raise _fail("limit_price_type", "only for trailing-stop-limit orders")
    _check_limit_price(order_type, limit_price, data.get("limit_price_type"))

    triggers = data.get("triggers")
    if order_type in TRIGGERED:
        if triggers is None:
            raise _fail("triggers", f"required for a {order_type} order")
        price_type = triggers.get("price_type", "static")
        if order_type in _TRAILING:
            if price_type == "static":
                raise _fail("triggers.price_type", "a trailing order needs pct or quote")
            if triggers["price"] <= 0:
                raise _fail("triggers.price", "a trailing offset must be positive")
        elif price_type == "static" and triggers["price"] <= 0:
            raise _fail("triggers.price", "must be positive")
    elif triggers is not None:
        raise _fail("triggers", f"not used by a {order_type} order")

    time_in_force = data.get("time_in_force")
    if time_in_force == "gtd":
        if "expire_time" not in data:
            raise _fail("expire_time", "required when time_in_force is gtd")
    elif "expire_time" in data:
        raise _fail("expire_time", "only with time_in_force gtd")
    if time_in_force == "fok" and order_type not in LIMIT_PRICED:
        raise _fail("time_in_force", "fok is for limit-priced orders only")
    if data.get("post_only") and order_type not in LIMIT_PRICED:
        raise _fail("post_only", "only for limit-priced orders")

    display_qty = data.get("display_qty")
    if order_type == "iceberg":
        if display_qty is None:
            raise _fail("display_qty", "required for an iceberg order")
        if qty is not None and display_qty * 15 < qty:
            raise _fail("display_qty", "must be at least order_qty/15")
    elif display_qty is not None:
        raise _fail("display_qty", "only for iceberg orders")

    if "cl_ord_id" in data:
        if "order_userref" in data:
            raise _fail("cl_ord_id", "exclusive with order_userref")
        if "conditional" in data:
            raise _fail("cl_ord_id", "Kraken refuses cl_ord_id on orders with a conditional")


class _AddOrderSchema(_OrderSchema):
    symbol = mf.String(required=True, validate=mv.Length(min=1))
    deadline = OutTime(precision="ms")
    validate_ = OutBool(data_key="validate", attribute="validate")


class _BatchOrderSchema(_OrderSchema):
    # Kraken wants the symbol once per batch; a repeat is accepted here only if it agrees.
    symbol = mf.String()
    deadline = Refused("batch-wide in batch_add: set it on the batch")
    validate_ = Refused("batch-wide in batch_add: set it on the batch", data_key="validate")


class _BatchAddSchema(OutboundSchema):
    symbol = mf.String(required=True, validate=mv.Length(min=1))
    orders = mf.List(
        mf.Nested(_BatchOrderSchema),
        required=True,
        validate=mv.Length(min=2, max=15, error="a batch holds 2 to 15 orders"),
    )
    deadline = OutTime(precision="ms")
    validate_ = OutBool(data_key="validate", attribute="validate")

    def check(self, data: dict[str, Any]) -> None:
        for index, order in enumerate(data["orders"]):
            symbol = order.get("symbol")
            if symbol is not None and symbol != data["symbol"]:
                raise _fail(f"orders.{index}.symbol", "a batch has one symbol: the batch's")

    def finish(self, data: dict[str, Any]) -> dict[str, Any]:
        for order in data["orders"]:
            order.pop("symbol", None)
        return data


# ---------------------------------------------------------------------------------------------
# amend / edit / cancel


class _AmendOrderSchema(OutboundSchema):
    order_id = mf.String(validate=mv.Length(min=1))
    cl_ord_id = ClientId()
    order_qty = OutDecimal(positive=True)
    display_qty = OutDecimal(positive=True)
    limit_price = OutDecimal()
    limit_price_type = Enum(*_PRICE_TYPES)
    post_only = OutBool()
    trigger_price = OutDecimal()
    trigger_price_type = Enum(*_PRICE_TYPES)
    deadline = OutTime(precision="ms")
    symbol = mf.String(validate=mv.Length(min=1))

    def check(self, data: dict[str, Any]) -> None:
        if "order_id" in data and "cl_ord_id" in data:
            raise _fail("cl_ord_id", "exclusive with order_id: the amend names one order")
        if "order_id" not in data and "cl_ord_id" not in data:
            raise _fail("order_id", "give order_id or cl_ord_id")
        if not any(k in data for k in ("order_qty", "display_qty", "limit_price", "trigger_price")):
            raise _fail(
                "order_qty",
                "nothing to amend: give order_qty, limit_price, display_qty or trigger_price",
            )
        limit_price = data.get("limit_price")
        if (
            limit_price is not None
            and limit_price <= 0
            and data.get("limit_price_type", "static") == "static"
        ):
            raise _fail("limit_price", "must be positive")
        trigger_price = data.get("trigger_price")
        if (
            trigger_price is not None
            and trigger_price <= 0
            and data.get("trigger_price_type", "static") == "static"
        ):
            raise _fail("trigger_price", "must be positive")


class _EditOrderSchema(OutboundSchema):
    order_id = mf.String(required=True, validate=mv.Length(min=1))
    symbol = mf.String(required=True, validate=mv.Length(min=1))
    order_qty = OutDecimal(positive=True)
    limit_price = OutDecimal(positive=True)
    display_qty = OutDecimal(positive=True)
    triggers = mf.Nested(_TriggersSchema)
    post_only = OutBool()
    reduce_only = OutBool()
    fee_preference = Enum("base", "quote")
    order_userref = OutInt(low=INT32_MIN, high=INT32_MAX)
    no_mpp = OutBool()
    deadline = OutTime(precision="ms")
    validate_ = OutBool(data_key="validate", attribute="validate")
    cl_ord_id = Refused("edit_order does not support cl_ord_id: use amend_order")
    price = Refused("deprecated by Kraken: use limit_price")
    trigger = Refused("deprecated by Kraken: use triggers.reference")
    stop_price = Refused("deprecated by Kraken: use triggers.price")

    def check(self, data: dict[str, Any]) -> None:
        qty, display_qty = data.get("order_qty"), data.get("display_qty")
        if qty is not None and display_qty is not None and display_qty * 15 < qty:
            raise _fail("display_qty", "must be at least order_qty/15")


def _id_list(inner: mf.Field[Any]) -> mf.List[Any]:
    return mf.List(inner, validate=mv.Length(min=1, error="must not be empty"))


class _CancelOrderSchema(OutboundSchema):
    order_id = _id_list(mf.String(validate=mv.Length(min=1)))
    cl_ord_id = _id_list(ClientId())
    order_userref = _id_list(OutInt(low=INT32_MIN, high=INT32_MAX))

    def check(self, data: dict[str, Any]) -> None:
        if not data:
            raise _fail("order_id", "give order_id, cl_ord_id or order_userref")


class _CancelAllSchema(OutboundSchema):
    pass


class _CancelAfterSchema(OutboundSchema):
    timeout = OutInt(required=True, low=0, high=86399)


class _BatchCancelId(mf.String):
    """An order id, or a userref which Kraken wants as a string."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT32_MIN <= value <= INT32_MAX:
                raise ValidationError("a userref must fit in int32")
            return str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            raise ValidationError("must not be empty")
        return text


class _BatchCancelSchema(OutboundSchema):
    orders = mf.List(_BatchCancelId())
    cl_ord_id = mf.List(ClientId())

    def check(self, data: dict[str, Any]) -> None:
        total = len(data.get("orders", ())) + len(data.get("cl_ord_id", ()))
        if not 2 <= total <= 50:
            raise _fail("orders", f"a batch cancel names 2 to 50 orders, got {total}")


_PARAMS_SCHEMAS: dict[str, OutboundSchema] = {
    "add_order": _AddOrderSchema(),
    "amend_order": _AmendOrderSchema(),
    "edit_order": _EditOrderSchema(),
    "cancel_order": _CancelOrderSchema(),
    "cancel_all": _CancelAllSchema(),
    "cancel_all_orders_after": _CancelAfterSchema(),
    "batch_add": _BatchAddSchema(),
    "batch_cancel": _BatchCancelSchema(),
}
METHODS = tuple(_PARAMS_SCHEMAS)


def build_params(method: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a caller's Kraken-named fields and return the wire `params` (without `token`).

    Decimals stay Decimal (ints and decimal text become Decimal where Kraken wants a number);
    datetimes become RFC3339 text at the precision Kraken wants (seconds for effective/expire
    times, milliseconds for deadline); RFC3339 text is checked and kept verbatim.

    Raises:
        LocalRejection: the first problem, with `field` as a dotted path.
    """
    schema = _PARAMS_SCHEMAS.get(method)
    if schema is None:
        raise LocalRejection("method", f"unknown trading method {method!r}")
    return load_outbound(schema, fields)


def parse_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Read a request's wire `params` back (the simulator's side); `token` is set aside.

    Applies exactly the rules of `build_params`, so whatever the engine can send, it reads.
    """
    return build_params(method, {k: v for k, v in params.items() if k != "token"})


def build_request(
    method: str, params: Mapping[str, Any], req_id: int | None, token: str
) -> dict[str, Any]:
    """Wrap built params into the request envelope of §3.1 (token inside `params`)."""
    frame: dict[str, Any] = {"method": method, "params": {**params, "token": token}}
    if req_id is not None:
        frame["req_id"] = req_id
    return frame


# ---------------------------------------------------------------------------------------------
# Results


def _warnings(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(data.get("warnings") or ())


def _with_warnings(out: dict[str, Any], warnings: tuple[str, ...]) -> dict[str, Any]:
    if warnings:
        out["warnings"] = list(warnings)
    return out


def _drop_none(**items: Any) -> dict[str, Any]:
    return {k: v for k, v in items.items() if v is not None}


@dataclass(frozen=True, slots=True)
class AddOrderResult:
    """`order_id` is `""` under `validate: true`: never a live order."""

    order_id: str | None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(
            order_id=self.order_id, cl_ord_id=self.cl_ord_id, order_userref=self.order_userref
        )
        return _with_warnings(out, self.warnings)


@dataclass(frozen=True, slots=True)
class AmendOrderResult:
    amend_id: str | None
    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(amend_id=self.amend_id, order_id=self.order_id, cl_ord_id=self.cl_ord_id)
        return _with_warnings(out, self.warnings)


@dataclass(frozen=True, slots=True)
class EditOrderResult:
    order_id: str | None
    original_order_id: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(order_id=self.order_id, original_order_id=self.original_order_id)
        return _with_warnings(out, self.warnings)


@dataclass(frozen=True, slots=True)
class CancelOrderResult:
    """One frame per cancelled order; a cancel by `cl_ord_id` may echo only that."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(order_id=self.order_id, cl_ord_id=self.cl_ord_id)
        return _with_warnings(out, self.warnings)


@dataclass(frozen=True, slots=True)
class CancelAllResult:
    count: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _with_warnings({"count": self.count}, self.warnings)


@dataclass(frozen=True, slots=True)
class CancelAllOrdersAfterResult:
    """The dead man's switch state; `trigger_time` None means disarmed (`"0"` or absent)."""

    current_time: datetime | None
    trigger_time: datetime | None

    def to_dict(self) -> dict[str, Any]:
        current = None if self.current_time is None else format_time(self.current_time, "s")
        trigger = "0" if self.trigger_time is None else format_time(self.trigger_time, "s")
        return _drop_none(currentTime=current, triggerTime=trigger)


@dataclass(frozen=True, slots=True)
class BatchAddEntry:
    """One row of a batch_add result; a row with `error` failed while its siblings may live."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = _drop_none(
            order_id=self.order_id,
            cl_ord_id=self.cl_ord_id,
            order_userref=self.order_userref,
            error=self.error,
        )
        return _with_warnings(out, self.warnings)


BatchAddResult = tuple[BatchAddEntry, ...]


@dataclass(frozen=True, slots=True)
class BatchCancelResult:
    """Kraken documents `result.count` but was seen sending top-level `orders_cancelled`."""

    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count}


class _OrderIdsSchema(InboundSchema):
    order_id = mf.String()
    cl_ord_id = mf.String()
    order_userref = mf.Integer()
    amend_id = mf.String()
    original_order_id = mf.String()
    error = mf.String()
    count = mf.Integer()
    warnings = mf.List(mf.String())


class _CancelAfterResultSchema(InboundSchema):
    currentTime = mf.Raw()  # Kraken's spelling
    triggerTime = mf.Raw()


_IDS = _OrderIdsSchema()
_CANCEL_AFTER = _CancelAfterResultSchema()


def _time_or_none(value: Any, what: str) -> datetime | None:
    if value is None or value in ("0", 0, ""):
        return None
    if not isinstance(value, str):
        raise VenueProtocolError(f"{what}: not a time: {value!r}")
    try:
        return parse_time(value)
    except ValueError:
        raise VenueProtocolError(f"{what}: not a time: {value!r}") from None


def parse_cancel_after_result(result: Any) -> CancelAllOrdersAfterResult:
    """Shared by WS and REST: both spell the keys `currentTime` / `triggerTime`."""
    data = load_inbound(_CANCEL_AFTER, result, "cancel_all_orders_after result")
    return CancelAllOrdersAfterResult(
        current_time=_time_or_none(data.get("currentTime"), "currentTime"),
        trigger_time=_time_or_none(data.get("triggerTime"), "triggerTime"),
    )


def _ids(result: Any, method: str) -> dict[str, Any]:
    return load_inbound(_IDS, result, f"{method} result")


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VenueProtocolError(f"{what}: count is not an int: {value!r}")
    return value


def parse_trading_result(method: str, result: Any, envelope: Mapping[str, Any]) -> Any:
    """The typed result of a trading method, or `NotImplemented` for other methods."""
    if method == "add_order":
        d = _ids(result, method)
        return AddOrderResult(
            d.get("order_id"), d.get("cl_ord_id"), d.get("order_userref"), _warnings(d)
        )
    if method == "amend_order":
        d = _ids(result, method)
        return AmendOrderResult(
            d.get("amend_id"), d.get("order_id"), d.get("cl_ord_id"), _warnings(d)
        )
    if method == "edit_order":
        d = _ids(result, method)
        return EditOrderResult(d.get("order_id"), d.get("original_order_id"), _warnings(d))
    if method == "cancel_order":
        d = _ids(result, method)
        return CancelOrderResult(d.get("order_id"), d.get("cl_ord_id"), _warnings(d))
    if method == "cancel_all":
        d = _ids(result, method)
        return CancelAllResult(_count(d.get("count"), method), _warnings(d))
    if method == "cancel_all_orders_after":
        return parse_cancel_after_result(result)
    if method == "batch_add":
        if not isinstance(result, Sequence) or isinstance(result, str):
            raise VenueProtocolError(f"batch_add result: expected a list, got {result!r}")
        rows = [_ids(row, method) for row in result]
        return tuple(
            BatchAddEntry(
                r.get("order_id"),
                r.get("cl_ord_id"),
                r.get("order_userref"),
                r.get("error"),
                _warnings(r),
            )
            for r in rows
        )
    if method == "batch_cancel":
        if isinstance(result, Mapping) and "count" in result:
            return BatchCancelResult(_count(result["count"], method))
        return BatchCancelResult(_count(envelope.get("orders_cancelled"), method))
    return NotImplemented
