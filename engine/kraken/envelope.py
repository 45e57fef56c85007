"""The WS v2 frame envelopes and the marshmallow fields every Kraken schema shares.

Two directions, two temperaments (design principle 10): outbound fields are strict because a
request Kraken refuses still costs a round trip and rate-counter points, and a float that slipped
through would lose money silently; inbound fields are tolerant because Kraken adds fields and
omits optional ones without notice. Schema errors never escape as marshmallow exceptions:
outbound problems become one `LocalRejection` naming the field, inbound ones a
`VenueProtocolError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, post_load, pre_load, validates_schema
from marshmallow import fields as mf
from marshmallow import validate as mv

from engine.errors import LocalRejection, VenueProtocolError

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "ClientId",
    "Enum",
    "InDecimal",
    "InNested",
    "InTime",
    "InboundSchema",
    "MethodResponse",
    "OutBool",
    "OutDecimal",
    "OutInt",
    "OutTime",
    "OutboundSchema",
    "Refused",
    "format_time",
    "is_client_id",
    "load_inbound",
    "load_outbound",
    "parse_response",
    "parse_time",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# §4.0: long UUID, short UUID (32 hex) or visible ASCII free text of at most 18 characters.
_CLIENT_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32}"
    r"|[\x21-\x7e]{1,18}"
)


def is_client_id(value: str) -> bool:
    """True when `value` has one of the three `cl_ord_id` / `sender_sub_id` formats."""
    return _CLIENT_ID.fullmatch(value) is not None


# ---------------------------------------------------------------------------------------------
# Time


def parse_time(text: str) -> datetime:
    """RFC3339 -> aware UTC datetime; a missing offset means UTC, extra fraction digits are cut.

    Kraken's own examples carry both quirks (`2022-06-13T08:09:10.7890123`).
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime, precision: str = "us") -> str:
    """Aware datetime -> RFC3339 `Z` text at `s`, `ms` or `us` precision (Kraken's three)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat, not strftime: a third of the cost, and it writes every year with four digits;
    # "+00:00" becomes "Z" (milliseconds are truncated, as Kraken's own texts are)
    return value.isoformat(timespec=_TIMESPEC[precision])[:-6] + "Z"


_TIMESPEC = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}


# ---------------------------------------------------------------------------------------------
# Outbound fields: strict, and they produce the wire value directly so one `load` is the whole
# build (no second `dump` pass on the hot path).


class OutDecimal(mf.Field[Decimal]):
    """Decimal, int or decimal text -> Decimal; floats refused because they already lost digits."""

    def __init__(self, *, positive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positive = positive

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, bool):
            raise ValidationError("must be a Decimal, not a bool")
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            raise ValidationError("floats are refused (they lose money): pass a Decimal")
        elif isinstance(value, str):
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise ValidationError(f"not a decimal number: {value!r}") from None
        else:
            raise ValidationError(f"must be a Decimal, not {type(value).__name__}")
        if not number.is_finite():
            raise ValidationError("must be a finite number")
        if self.positive and number <= 0:
            raise ValidationError("must be positive")
        return number


class OutInt(mf.Field[int]):
    """An int (never a bool) within optional bounds."""

    def __init__(self, *, low: int | None = None, high: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low = low
        self.high = high

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"must be an int, not {type(value).__name__}")
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise ValidationError(f"must be within {self.low}..{self.high}")
        return value


class OutBool(mf.Field[bool]):
    """Only `True`/`False`: marshmallow's Boolean would accept "yes" or 1."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"must be a bool, not {type(value).__name__}")
        return value


class OutTime(mf.Field[str]):
    """An aware datetime rendered at Kraken's precision, or RFC3339 text checked and kept as is.

    Text passes through untouched so that a caller (or a documented example) that already
    chose the wire form gets exactly that form back.
    """

    def __init__(self, *, precision: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.precision = precision

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValidationError("naive datetime: give a timezone-aware one")
            return format_time(value, self.precision)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValidationError(f"not an RFC3339 time: {value!r}") from None
            if "T" not in value or parsed.tzinfo is None:
                raise ValidationError(f"RFC3339 needs a date, a time and an offset: {value!r}")
            return value
        raise ValidationError(f"must be a datetime, not {type(value).__name__}")


class ClientId(mf.String):
    """`cl_ord_id` / `sender_sub_id`: one of the three formats of §4.0."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_client_id(text):
            raise ValidationError(
                "malformed: use a UUID (36 chars), 32 hex digits or ASCII text of <= 18 chars"
            )
        return text


class Refused(mf.Field[Any]):
    """A field Kraken lists but we never send (deprecated, or wrong for this method)."""

    def __init__(self, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        raise ValidationError(self.reason)


def Enum(*choices: str, **kwargs: Any) -> mf.String:
    """A string restricted to Kraken's spelled-out choices."""
    return mf.String(validate=mv.OneOf(choices, error="must be one of: {choices}"), **kwargs)


class OutboundSchema(Schema):
    """Our requests: unknown fields are errors, as they are on Kraken (`Unsupported field`).

    Subclasses put cross-field rules in `check` and wire touch-ups in `finish`; both run on
    marshmallow's own `load` (nested objects, the simulator) and on `fast_load`, the top-level
    path of `build_params`. `fast_load` exists because marshmallow's generic loop costs about
    6 µs per field, absent ones included, and add_order sits on the engine's hot path: it
    visits only the keys given, through the same public `Field.deserialize`, so both paths
    accept and refuse exactly the same input.
    """

    class Meta:
        unknown = EXCLUDE  # but see _check_keys: nothing unknown gets past it

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by_key = {f.data_key or name: f for name, f in self.load_fields.items()}
        self._required = tuple(k for k, f in self._by_key.items() if f.required)

    def check(self, data: dict[str, Any]) -> None:
        """Cross-field rules; raise `ValidationError(reason, field_name=...)`."""

    def finish(self, data: dict[str, Any]) -> dict[str, Any]:
        """Last touch on the loaded dict before it becomes wire params."""
        return data

    @pre_load
    def _check_keys(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            by_key = self._by_key
            for key in data:
                if key not in by_key:
                    raise ValidationError("Unknown field", field_name=str(key))
            for name in self._required:
                if name not in data:
                    raise ValidationError("Missing data for required field", field_name=name)
        return data

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        self.check(data)

    @post_load
    def _finish(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.finish(data)

    def fast_load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """`load` for a top-level mapping, visiting only the keys present."""
        self._check_keys(data)
        by_key = self._by_key
        out: dict[str, Any] = {}
        for key, value in data.items():
            try:
                out[key] = by_key[key].deserialize(value, key, data)
            except ValidationError as exc:
                raise ValidationError({key: exc.messages}) from None
        self.check(out)
        return self.finish(out)


def _first_error(messages: Any, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """The first leaf of marshmallow's nested error dict as (dotted field path, reason)."""
    if isinstance(messages, Mapping):
        key, value = next(iter(messages.items()))
        if key == "_schema":
            return _first_error(value, path)
        return _first_error(value, (*path, str(key)))
    if isinstance(messages, list | tuple) and messages:
        return _first_error(messages[0], path)
    return ".".join(path) or "params", str(messages)


def load_outbound(schema: OutboundSchema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Run an outbound schema; the first problem becomes the one `LocalRejection` raised."""
    if not isinstance(data, Mapping):
        raise LocalRejection("params", f"must be a mapping, not {type(data).__name__}")
    try:
        return schema.fast_load(data)
    except ValidationError as exc:
        field, reason = _first_error(exc.normalized_messages())  # type: ignore[no-untyped-call]
        raise LocalRejection(field, reason.rstrip(".")) from None


# ---------------------------------------------------------------------------------------------
# Inbound fields: tolerant of shape, but a value we cannot read is a protocol error.


class InDecimal(mf.Field[Decimal]):
    """JSON number (Decimal/int from the codec) or REST decimal string -> Decimal."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, bool):
            raise ValidationError("not a number")
        if isinstance(value, int | str):
            try:
                return Decimal(value)
            except InvalidOperation:
                raise ValidationError(f"not a number: {value!r}") from None
        if isinstance(value, float):
            return Decimal(repr(value))
        raise ValidationError(f"not a number: {value!r}")

    def _serialize(self, value: Decimal | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class InTime(mf.Field[datetime]):
    """RFC3339 text -> aware UTC datetime."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        if not isinstance(value, str):
            raise ValidationError(f"not an RFC3339 time: {value!r}")
        try:
            return parse_time(value)
        except ValueError:
            raise ValidationError(f"not an RFC3339 time: {value!r}") from None

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else format_time(value)


class InboundSchema(Schema):
    """Kraken's messages: unknown fields ignored, optional fields may be absent.

    `fast_load` (used by `load_inbound`) visits only the keys present, for the same reason as
    `OutboundSchema.fast_load`: acks and executions reports arrive for every order.
    """

    class Meta:
        unknown = EXCLUDE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by_key = {f.data_key or name: f for name, f in self.load_fields.items()}
        self._required = tuple(k for k, f in self._by_key.items() if f.required)

    def fast_load(self, data: Mapping[str, Any]) -> dict[str, Any]:
        for name in self._required:
            if name not in data:
                raise ValidationError("Missing data for required field", field_name=name)
        by_key = self._by_key
        out: dict[str, Any] = {}
        for key, value in data.items():
            field = by_key.get(key)
            if field is None or value is None:
                continue  # a JSON null says no more than an absent key
            try:
                # Inbound fields carry no validators, so a present value needs only the
                # conversion step; `deserialize` would rebuild a validator chain each time.
                if not field.validators:
                    out[key] = field._deserialize(value, key, data)
                else:
                    out[key] = field.deserialize(value, key, data)
            except ValidationError as exc:
                raise ValidationError({key: exc.messages}) from None
        return out


class InNested(mf.Nested):
    """Nested inbound object through `InboundSchema.fast_load` (fees, descr, ...)."""

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        schema = self.schema
        if isinstance(schema, InboundSchema) and isinstance(value, Mapping):
            return schema.fast_load(value)
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


def load_inbound(schema: Schema, data: Any, what: str) -> dict[str, Any]:
    """Run an inbound schema; anything unreadable becomes a `VenueProtocolError`."""
    if not isinstance(data, Mapping):
        raise VenueProtocolError(f"{what}: expected an object, got {type(data).__name__}")
    try:
        if isinstance(schema, InboundSchema):
            return schema.fast_load(data)
        result: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        raise VenueProtocolError(f"{what}: {exc.messages}") from None
    return result


class _ResponseEnvelopeSchema(InboundSchema):
    method = mf.String(required=True)
    req_id = mf.Raw()
    success = mf.Raw()
    result = mf.Raw()
    error = mf.Raw()
    time_in = InTime()
    time_out = InTime()
    orders_cancelled = mf.Raw()


_RESPONSE_ENVELOPE = _ResponseEnvelopeSchema()


@dataclass(frozen=True, slots=True)
class MethodResponse:
    """One method response frame; `result` is the method's typed result (or None on failure).

    `success` is True only for a literal JSON `true`: an absent or odd value is a failure,
    as the krakenfx SDK learned the hard way.
    """

    method: str
    req_id: int | None
    success: bool
    result: Any = None
    error: str | None = None
    time_in: datetime | None = None
    time_out: datetime | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Back to Kraken's field names (Decimals kept, times as RFC3339 text)."""
        out: dict[str, Any] = {"method": self.method}
        if self.req_id is not None:
            out["req_id"] = self.req_id
        if self.result is not None:
            if isinstance(self.result, tuple):
                out["result"] = [entry.to_dict() for entry in self.result]
            elif hasattr(self.result, "to_dict"):
                out["result"] = self.result.to_dict()
            else:
                out["result"] = self.result
        if self.method != "pong" or not self.success:
            out["success"] = self.success
        if self.error is not None:
            out["error"] = self.error
        if self.time_in is not None:
            out["time_in"] = format_time(self.time_in)
        if self.time_out is not None:
            out["time_out"] = format_time(self.time_out)
        return out


def parse_response(frame: Mapping[str, Any]) -> MethodResponse:
    """Parse any method response (trading, subscribe/unsubscribe, pong) into a `MethodResponse`.

    Raises:
        VenueProtocolError: the frame or its result cannot be read.
    """
    # Imported here because the method modules build on the fields defined above.
    from engine.kraken.control import parse_control_result
    from engine.kraken.trading import parse_trading_result

    env = load_inbound(_RESPONSE_ENVELOPE, frame, "method response")
    method: str = env["method"]
    req_id = env.get("req_id")
    if isinstance(req_id, bool) or not isinstance(req_id, int):
        req_id = None  # a string req_id cannot be correlated (§3.1)
    # A pong carries no success flag (§3.4): it is an answer, not a verdict.
    success = env.get("success", method == "pong") is True
    error = env.get("error")
    if error is not None and not isinstance(error, str):
        error = str(error)
    if not success and error is None:
        error = "no success flag in response"
    raw_result = env.get("result")
    result: Any = None
    if raw_result is not None or "orders_cancelled" in env:
        parsed = parse_trading_result(method, raw_result, env)
        if parsed is NotImplemented:
            parsed = parse_control_result(method, raw_result)
        result = parsed
    warnings: tuple[str, ...] = ()
    if isinstance(raw_result, Mapping):
        raw_warnings = raw_result.get("warnings")
        if isinstance(raw_warnings, list):
            warnings = tuple(str(w) for w in raw_warnings)
    return MethodResponse(
        method=method,
        req_id=req_id,
        success=success,
        result=result,
        error=error,
        time_in=env.get("time_in"),
        time_out=env.get("time_out"),
        warnings=warnings,
    )
