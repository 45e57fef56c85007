"""Property tests: every valid request survives build -> JSON text -> read back, digit for digit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.kraken.codec import decode, encode, format_decimal
from engine.kraken.envelope import parse_time
from engine.kraken.trading import LIMIT_PRICED, ORDER_TYPES, TRIGGERED, build_params, build_request

SETTINGS = settings(max_examples=60, deadline=None)

TINY = Decimal("0.000000012345678901")


def _decimals(low: str, high: str) -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.just(TINY),
        st.decimals(
            min_value=Decimal(low),
            max_value=Decimal(high),
            allow_nan=False,
            allow_infinity=False,
        ).filter(lambda d: d > 0),
        st.integers(1, 10**12).map(Decimal),
        st.tuples(st.integers(1, 10**20), st.integers(0, 18)).map(
            lambda t: Decimal(t[0]).scaleb(-t[1])
        ),
    )


POSITIVE = _decimals("0.000000000000000001", "1000000000")
SIGNED = st.one_of(POSITIVE, POSITIVE.map(lambda d: -d))
TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
CLIENT_IDS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: u.hex),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=18),
)


@st.composite
def orders(draw: st.DrawFn, in_batch: bool = False) -> dict[str, Any]:
    order_type = draw(st.sampled_from(ORDER_TYPES))
    side = draw(st.sampled_from(["buy", "sell"]))
    o: dict[str, Any] = {"order_type": order_type, "side": side}
    if order_type == "market" and side == "buy" and draw(st.booleans()):
        o["cash_order_qty"] = draw(POSITIVE)
    else:
        o["order_qty"] = draw(POSITIVE)
        if draw(st.booleans()):
            o["margin"] = draw(st.booleans())
    if order_type in LIMIT_PRICED:
        if order_type == "trailing-stop-limit" and draw(st.booleans()):
            o["limit_price_type"] = draw(st.sampled_from(["pct", "quote"]))
            o["limit_price"] = draw(SIGNED)
        else:
            o["limit_price"] = draw(POSITIVE)
        if draw(st.booleans()):
            o["post_only"] = draw(st.booleans())
    if order_type in TRIGGERED:
        triggers: dict[str, Any] = {"price": draw(POSITIVE)}
        if order_type.startswith("trailing"):
            triggers["price_type"] = draw(st.sampled_from(["pct", "quote"]))
        elif draw(st.booleans()):
            triggers["price_type"] = draw(st.sampled_from(["static", "pct", "quote"]))
            if triggers["price_type"] != "static":
                triggers["price"] = draw(SIGNED)
        if draw(st.booleans()):
            triggers["reference"] = draw(st.sampled_from(["last", "index"]))
        o["triggers"] = triggers
    if order_type == "iceberg" and "order_qty" in o:
        o["display_qty"] = o["order_qty"] / 15 + draw(POSITIVE)
    tif = draw(
        st.sampled_from(
            [None, "gtc", "gtd", "ioc"] + (["fok"] if order_type in LIMIT_PRICED else [])
        )
    )
    if tif is not None:
        o["time_in_force"] = tif
    if tif == "gtd":
        o["expire_time"] = draw(TIMES)
    if draw(st.booleans()):
        o["effective_time"] = draw(TIMES)
    conditional = draw(st.booleans())
    if conditional:
        ctype = draw(st.sampled_from(["limit", "stop-loss", "take-profit-limit", "trailing-stop"]))
        c: dict[str, Any] = {"order_type": ctype}
        if ctype in LIMIT_PRICED:
            c["limit_price"] = draw(POSITIVE)
        if ctype in TRIGGERED:
            c["trigger_price"] = draw(POSITIVE)
            if draw(st.booleans()):
                c["trigger_price_type"] = draw(st.sampled_from(["pct", "quote"]))
        o["conditional"] = c
    ident = draw(st.sampled_from(["none", "cl_ord_id", "order_userref"]))
    if ident == "cl_ord_id" and not conditional:
        o["cl_ord_id"] = draw(CLIENT_IDS)
    elif ident == "order_userref":
        o["order_userref"] = draw(st.integers(-(2**31), 2**31 - 1))
    for flag in ("reduce_only", "no_mpp"):
        if draw(st.booleans()):
            o[flag] = draw(st.booleans())
    if draw(st.booleans()):
        o["stp_type"] = draw(st.sampled_from(["cancel_newest", "cancel_oldest", "cancel_both"]))
    if draw(st.booleans()):
        o["fee_preference"] = draw(st.sampled_from(["base", "quote"]))
    if draw(st.booleans()):
        o["sender_sub_id"] = draw(CLIENT_IDS)
    if not in_batch:
        o["symbol"] = draw(st.sampled_from(["BTC/USD", "DOGE/EUR", "MATIC/USD"]))
        if draw(st.booleans()):
            o["deadline"] = draw(TIMES)
        if draw(st.booleans()):
            o["validate"] = draw(st.booleans())
    return o


def _round_trip(method: str, fields: dict[str, Any]) -> dict[str, Any]:
    wire = build_params(method, fields)
    text = encode(build_request(method, wire, 7, "TOKEN"))
    frame = decode(text)
    params = frame["params"]
    assert params.pop("token") == "TOKEN"
    assert params == wire
    assert build_params(method, params) == wire  # the venue side reads back exactly this
    return wire


def _assert_same(given_value: Any, wire_value: Any) -> None:
    """Decimals keep every digit; datetimes keep Kraken's precision; the rest is equal."""
    if isinstance(given_value, dict):
        assert set(given_value) == set(wire_value)
        for key, value in given_value.items():
            _assert_same(value, wire_value[key])
    elif isinstance(given_value, list):
        assert len(given_value) == len(wire_value)
        for value, wire_item in zip(given_value, wire_value, strict=True):
            _assert_same(value, wire_item)
    elif isinstance(given_value, Decimal):
        assert isinstance(wire_value, Decimal)
        assert format_decimal(wire_value) == format_decimal(given_value)
    elif isinstance(given_value, datetime):
        parsed = parse_time(wire_value)
        assert abs(parsed - given_value).total_seconds() < 1
    else:
        assert wire_value == given_value


@SETTINGS
@given(orders())
def test_add_order_round_trip(fields: dict[str, Any]) -> None:
    wire = _round_trip("add_order", fields)
    _assert_same(fields, wire)
    if "expire_time" in fields:
        assert parse_time(wire["expire_time"]) == fields["expire_time"].replace(microsecond=0)
    if "deadline" in fields:
        expected = fields["deadline"].replace(
            microsecond=fields["deadline"].microsecond // 1000 * 1000
        )
        assert parse_time(wire["deadline"]) == expected


@SETTINGS
@given(
    st.lists(orders(in_batch=True), min_size=2, max_size=15),
    st.sampled_from(["BTC/USD", "ETH/EUR"]),
    st.one_of(st.none(), st.booleans()),
)
def test_batch_add_round_trip(
    batch: list[dict[str, Any]], symbol: str, validate: bool | None
) -> None:
    fields: dict[str, Any] = {"symbol": symbol, "orders": batch}
    if validate is not None:
        fields["validate"] = validate
    wire = _round_trip("batch_add", fields)
    _assert_same(fields, wire)


@SETTINGS
@given(
    st.one_of(
        st.builds(lambda i: {"order_id": i}, st.just("OAIYAU-LGI3M-PFM5VW")),
        st.builds(lambda c: {"cl_ord_id": c}, CLIENT_IDS),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "order_qty": POSITIVE,
            "display_qty": POSITIVE,
            "limit_price": POSITIVE,
            "trigger_price": POSITIVE,
            "post_only": st.booleans(),
            "trigger_price_type": st.sampled_from(["static", "pct", "quote"]),
            "deadline": TIMES,
            "symbol": st.just("AAPLx/USD"),
        },
    ),
    POSITIVE,
)
def test_amend_order_round_trip(ident: dict[str, Any], extra: dict[str, Any], qty: Decimal) -> None:
    fields = {**ident, "order_qty": qty, **extra}
    wire = _round_trip("amend_order", fields)
    _assert_same(fields, wire)


def test_tiny_decimal_survives_exactly() -> None:
    fields = {
        "order_type": "limit",
        "side": "buy",
        "symbol": "SHIB/USD",
        "order_qty": Decimal("123456789.123456789"),
        "limit_price": TINY,
    }
    wire = _round_trip("add_order", fields)
    assert format_decimal(wire["limit_price"]) == "0.000000012345678901"
    assert '"limit_price":0.000000012345678901' in encode(wire)
