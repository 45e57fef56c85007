"""The `executions` channel (§5) -> `OrderStatusReport` / `FillReport`.

Every element of `data` is a report (a message may mix exec_types, §8.22). Reports are sparse
and stay sparse: an absent field is `None`, never a default, because the lifecycle merges them
onto the stored order. Only `trade` reports carry fills; `filled` is a status and never books
quantity again (§5.7). Unknown exec_types pass through unchanged as non-fill reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marshmallow import Schema
from marshmallow import fields as mf

from engine.domain.reports import FillReport, OrderStatusReport
from engine.errors import VenueProtocolError
from engine.kraken.envelope import (
    InboundSchema,
    InDecimal,
    InNested,
    InTime,
    load_inbound,
    parse_time,
)

__all__ = ["ExecutionsMessage", "parse_executions", "parse_report"]


@dataclass(frozen=True, slots=True)
class ExecutionsMessage:
    """One executions frame: `sequence` is only for gap detection within a connection."""

    type: str  # snapshot | update
    sequence: int | None
    reports: tuple[OrderStatusReport, ...]
    fills: tuple[FillReport, ...]


class _FeeSchema(InboundSchema):
    asset = mf.String()
    qty = InDecimal()


class _ReportSchema(InboundSchema):
    order_id = mf.String(required=True)
    exec_type = mf.String()
    order_status = mf.String()
    timestamp = InTime()
    cl_ord_id = mf.String()
    order_userref = mf.Integer()
    symbol = mf.String()
    side = mf.String()
    order_type = mf.String()
    order_qty = InDecimal()
    limit_price = InDecimal()
    cum_qty = InDecimal()
    cum_cost = InDecimal()
    avg_price = InDecimal()
    fee_usd_equiv = InDecimal()
    reason = mf.String()
    cancel_reason = mf.String()
    amended = mf.Boolean()
    time_in_force = mf.String()
    post_only = mf.Boolean()
    exec_id = mf.String()
    trade_id = mf.Integer()
    last_qty = InDecimal()
    last_price = InDecimal()
    cost = InDecimal()
    liquidity_ind = mf.String()
    fees = mf.List(InNested(_FeeSchema))


_REPORT = _ReportSchema()


# --- the fast reader -------------------------------------------------------------------------
#
# Every executions report goes through `_REPORT`, one per fill at full rate. Kraken's reports
# are JSON: strings, numbers (Decimal or int from the codec), booleans, RFC3339 text, a list of
# fee objects. For those, the schema's answer is known without running it: the string itself,
# the Decimal, ... The reader below gives that answer and hands anything else (a missing
# order_id, a number as text, a null in the fee list, an unreadable time) to the schema, whose
# result or error is then the one returned, so validation and messages are the schema's.


class _Unusual(Exception):
    """A value the fast reader does not take as it is: the schema decides."""


def _as_str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise _Unusual


def _as_decimal(value: Any) -> Any:
    kind = type(value)
    if kind is Decimal:
        return value
    if kind is int:
        return Decimal(value)
    raise _Unusual


def _as_int(value: Any) -> Any:
    if type(value) is int:
        return value
    raise _Unusual


def _as_bool(value: Any) -> Any:
    if value is True or value is False:
        return value
    raise _Unusual


def _as_time(value: Any) -> Any:
    if type(value) is str:
        try:
            return parse_time(value)
        except ValueError:
            pass
    raise _Unusual


def _as_list_of(read: Callable[[Any], dict[str, Any]]) -> Callable[[Any], Any]:
    def as_list(value: Any) -> Any:
        if type(value) is not list:
            raise _Unusual
        return [read(item) for item in value]

    return as_list


def _converter(field: mf.Field[Any]) -> Callable[[Any], Any] | None:
    """The fast conversion for a field without validators, or None (always the schema)."""
    if field.validators:
        return None
    if isinstance(field, InDecimal):
        return _as_decimal
    if isinstance(field, InTime):
        return _as_time
    if isinstance(field, mf.String):
        return _as_str
    if isinstance(field, mf.Integer) and not field.strict:
        return _as_int
    if isinstance(field, mf.Boolean):
        return _as_bool
    if (
        isinstance(field, mf.List)
        and isinstance(field.inner, InNested)
        and not field.inner.validators
        and not field.inner.allow_none
        and isinstance(field.inner.schema, InboundSchema)
    ):
        inner = _object_reader(field.inner.schema)
        return _as_list_of(inner) if inner is not None else None
    return None


def _object_reader(schema: Schema) -> Callable[[Any], dict[str, Any]] | None:
    """`InboundSchema.fast_load` for objects of plain JSON values, raising `_Unusual` for
    anything else; None when the schema has a field it cannot read itself."""
    converters: dict[str, Callable[[Any], Any] | None] = {}
    required: list[str] = []
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        converters[key] = _converter(field)
        if field.required:
            required.append(key)
    if not isinstance(schema, InboundSchema) or not any(converters.values()):
        return None

    def read(data: Any) -> dict[str, Any]:
        if type(data) is not dict:
            raise _Unusual
        for key in required:
            if key not in data:
                raise _Unusual
        out: dict[str, Any] = {}
        for key, value in data.items():
            if value is None or key not in converters:
                continue  # a null says no more than an absent key; unknown keys are ignored
            convert = converters[key]
            if convert is None:
                raise _Unusual
            out[key] = convert(value)
        return out

    return read


_READ_REPORT = _object_reader(_REPORT)


def _load_report(element: Any) -> dict[str, Any]:
    if _READ_REPORT is not None:
        try:
            return _READ_REPORT(element)
        except _Unusual:
            pass
    return load_inbound(_REPORT, element, "executions report")


def _report(data: Mapping[str, Any], raw: dict[str, Any]) -> OrderStatusReport:
    return OrderStatusReport(
        order_id=data["order_id"],
        exec_type=data.get("exec_type"),
        order_status=data.get("order_status"),
        timestamp=data.get("timestamp"),
        cl_ord_id=data.get("cl_ord_id"),
        order_userref=data.get("order_userref"),
        symbol=data.get("symbol"),
        side=data.get("side"),
        order_type=data.get("order_type"),
        order_qty=data.get("order_qty"),
        limit_price=data.get("limit_price"),
        cum_qty=data.get("cum_qty"),
        cum_cost=data.get("cum_cost"),
        avg_price=data.get("avg_price"),
        fee_usd_equiv=data.get("fee_usd_equiv"),
        reason=data.get("reason", data.get("cancel_reason")),  # cancel_reason is deprecated
        amended=data.get("amended"),
        time_in_force=data.get("time_in_force"),
        post_only=data.get("post_only"),
        source="executions",
        raw=raw,
    )


def _fill(data: Mapping[str, Any], raw: dict[str, Any]) -> FillReport:
    missing = [k for k in ("exec_id", "last_qty", "last_price") if data.get(k) is None]
    if missing:
        raise VenueProtocolError(f"trade report without {', '.join(missing)}: {raw!r}")
    fees = data.get("fees") or []
    fee = sum((f.get("qty", Decimal(0)) for f in fees), Decimal(0))
    fee_asset = next((f["asset"] for f in fees if f.get("asset")), None)
    return FillReport(
        exec_id=data["exec_id"],
        order_id=data["order_id"],
        last_qty=data["last_qty"],
        last_price=data["last_price"],
        timestamp=data.get("timestamp"),
        cost=data.get("cost"),
        fee=fee,
        fee_asset=fee_asset,
        liquidity_ind=data.get("liquidity_ind"),
        trade_id=data.get("trade_id"),
        symbol=data.get("symbol"),
        side=data.get("side"),
        cl_ord_id=data.get("cl_ord_id"),
        order_userref=data.get("order_userref"),
        source="executions",
        raw=raw,
    )


def parse_report(element: Any) -> tuple[OrderStatusReport, FillReport | None]:
    """One `data` element -> its status report, and its fill when it is a `trade`."""
    data = _load_report(element)
    raw = dict(element)
    report = _report(data, raw)
    fill = _fill(data, raw) if data.get("exec_type") == "trade" else None
    return report, fill


def parse_executions(frame: Mapping[str, Any]) -> ExecutionsMessage:
    """Parse a whole executions frame (snapshot or update).

    Raises:
        VenueProtocolError: not an executions frame, or a report we cannot read.
    """
    if frame.get("channel") != "executions":
        raise VenueProtocolError(f"not an executions frame: {frame.get('channel')!r}")
    kind = frame.get("type")
    if kind not in ("snapshot", "update"):
        raise VenueProtocolError(f"executions frame of unknown type {kind!r}")
    data = frame.get("data")
    if not isinstance(data, list):
        raise VenueProtocolError("executions frame without a data array")
    sequence = frame.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        sequence = None
    reports: list[OrderStatusReport] = []
    fills: list[FillReport] = []
    for element in data:
        report, fill = parse_report(element)
        reports.append(report)
        if fill is not None:
            fills.append(fill)
    return ExecutionsMessage(kind, sequence, tuple(reports), tuple(fills))
