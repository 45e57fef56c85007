"""Local refusals: each invalid request raises one LocalRejection naming the right field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.errors import LocalRejection
from engine.kraken.trading import build_params

D = Decimal
LIMIT: dict[str, Any] = {
    "order_type": "limit",
    "side": "buy",
    "order_qty": D("1.2"),
    "limit_price": D("26500.4"),
    "symbol": "BTC/USD",
}
UUID = "6d1b345e-2821-40e2-ad83-4ecb18a06876"
STOP_TRIGGERS = {"price": D("25000"), "reference": "last"}


def _without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _batch(n: int, **extra: Any) -> dict[str, Any]:
    orders = [_without(LIMIT, "symbol") for _ in range(n)]
    return {"symbol": "BTC/USD", "orders": orders, **extra}


def _at(seconds: int = 0) -> datetime:
    return datetime(2030, 1, 1, 0, 0, seconds, tzinfo=UTC)


CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # (method, id, fields, expected field)
    ("add_order", "limit without limit_price", _without(LIMIT, "limit_price"), "limit_price"),
    (
        "add_order",
        "cl_ord_id with order_userref",
        {**LIMIT, "cl_ord_id": UUID, "order_userref": 1},
        "cl_ord_id",
    ),
    ("add_order", "cl_ord_id 19 chars", {**LIMIT, "cl_ord_id": "a" * 19}, "cl_ord_id"),
    ("add_order", "cl_ord_id non-ascii", {**LIMIT, "cl_ord_id": "ordre-é"}, "cl_ord_id"),
    ("add_order", "cl_ord_id broken uuid", {**LIMIT, "cl_ord_id": UUID[:-1] + "g"}, "cl_ord_id"),
    ("add_order", "cl_ord_id 31 hex", {**LIMIT, "cl_ord_id": "a" * 31}, "cl_ord_id"),
    ("add_order", "cl_ord_id empty", {**LIMIT, "cl_ord_id": ""}, "cl_ord_id"),
    ("add_order", "sender_sub_id malformed", {**LIMIT, "sender_sub_id": "x" * 20}, "sender_sub_id"),
    ("add_order", "unknown field", {**LIMIT, "leverage_ratio": 2}, "leverage_ratio"),
    ("add_order", "leverage is not WS", {**LIMIT, "leverage": 2}, "leverage"),
    ("add_order", "deprecated stop_price", {**LIMIT, "stop_price": D(1)}, "stop_price"),
    ("add_order", "deprecated price", {**LIMIT, "price": D(1)}, "price"),
    ("add_order", "zero qty", {**LIMIT, "order_qty": D(0)}, "order_qty"),
    ("add_order", "negative qty", {**LIMIT, "order_qty": D("-1")}, "order_qty"),
    ("add_order", "zero price", {**LIMIT, "limit_price": D(0)}, "limit_price"),
    ("add_order", "negative price", {**LIMIT, "limit_price": -5}, "limit_price"),
    ("add_order", "float qty", {**LIMIT, "order_qty": 1.2}, "order_qty"),
    ("add_order", "float price", {**LIMIT, "limit_price": 26500.4}, "limit_price"),
    ("add_order", "nan price", {**LIMIT, "limit_price": D("NaN")}, "limit_price"),
    ("add_order", "text not a number", {**LIMIT, "order_qty": "1.2.3"}, "order_qty"),
    ("add_order", "bool qty", {**LIMIT, "order_qty": True}, "order_qty"),
    ("add_order", "missing qty", _without(LIMIT, "order_qty"), "order_qty"),
    ("add_order", "missing symbol", _without(LIMIT, "symbol"), "symbol"),
    ("add_order", "missing side", _without(LIMIT, "side"), "side"),
    ("add_order", "bad side", {**LIMIT, "side": "long"}, "side"),
    ("add_order", "bad order_type", {**LIMIT, "order_type": "stop"}, "order_type"),
    ("add_order", "market with limit_price", {**LIMIT, "order_type": "market"}, "limit_price"),
    (
        "add_order",
        "stop-loss without triggers",
        _without({**LIMIT, "order_type": "stop-loss"}, "limit_price"),
        "triggers",
    ),
    (
        "add_order",
        "stop-loss-limit without triggers",
        {**LIMIT, "order_type": "stop-loss-limit"},
        "triggers",
    ),
    (
        "add_order",
        "take-profit-limit without limit_price",
        _without(
            {**LIMIT, "order_type": "take-profit-limit", "triggers": STOP_TRIGGERS}, "limit_price"
        ),
        "limit_price",
    ),
    ("add_order", "triggers on a limit", {**LIMIT, "triggers": STOP_TRIGGERS}, "triggers"),
    (
        "add_order",
        "triggers without price",
        _without(
            {**LIMIT, "order_type": "stop-loss", "triggers": {"reference": "last"}}, "limit_price"
        ),
        "triggers.price",
    ),
    (
        "add_order",
        "trigger reference unknown",
        _without(
            {**LIMIT, "order_type": "stop-loss", "triggers": {"price": D(1), "reference": "mark"}},
            "limit_price",
        ),
        "triggers.reference",
    ),
    (
        "add_order",
        "static trigger not positive",
        _without(
            {**LIMIT, "order_type": "take-profit", "triggers": {"price": D(0)}}, "limit_price"
        ),
        "triggers.price",
    ),
    (
        "add_order",
        "trailing with negative offset",
        _without(
            {
                **LIMIT,
                "order_type": "trailing-stop",
                "triggers": {"price": D(-1), "price_type": "pct"},
            },
            "limit_price",
        ),
        "triggers.price",
    ),
    (
        "add_order",
        "trailing with static price",
        _without(
            {
                **LIMIT,
                "order_type": "trailing-stop",
                "triggers": {"price": D(1), "price_type": "static"},
            },
            "limit_price",
        ),
        "triggers.price_type",
    ),
    (
        "add_order",
        "limit_price_type on a limit",
        {**LIMIT, "limit_price_type": "pct"},
        "limit_price_type",
    ),
    ("add_order", "iceberg without display_qty", {**LIMIT, "order_type": "iceberg"}, "display_qty"),
    (
        "add_order",
        "iceberg display too small",
        {**LIMIT, "order_type": "iceberg", "order_qty": D(15), "display_qty": D("0.99")},
        "display_qty",
    ),
    ("add_order", "display_qty on a limit", {**LIMIT, "display_qty": D(1)}, "display_qty"),
    ("add_order", "gtd without expire_time", {**LIMIT, "time_in_force": "gtd"}, "expire_time"),
    ("add_order", "expire_time without gtd", {**LIMIT, "expire_time": _at()}, "expire_time"),
    (
        "add_order",
        "naive expire_time",
        {**LIMIT, "time_in_force": "gtd", "expire_time": datetime(2030, 1, 1)},
        "expire_time",
    ),
    (
        "add_order",
        "expire_time not a time",
        {**LIMIT, "time_in_force": "gtd", "expire_time": "tomorrow"},
        "expire_time",
    ),
    (
        "add_order",
        "expire_time text without offset",
        {**LIMIT, "time_in_force": "gtd", "expire_time": "2030-01-01T00:00:00"},
        "expire_time",
    ),
    ("add_order", "deadline date only", {**LIMIT, "deadline": "2030-01-01"}, "deadline"),
    ("add_order", "null field", {**LIMIT, "cl_ord_id": None}, "cl_ord_id"),
    ("add_order", "uppercase tif", {**LIMIT, "time_in_force": "GTC"}, "time_in_force"),
    (
        "add_order",
        "fok on a market",
        _without({**LIMIT, "order_type": "market", "time_in_force": "fok"}, "limit_price"),
        "time_in_force",
    ),
    (
        "add_order",
        "post_only on a market",
        _without({**LIMIT, "order_type": "market", "post_only": True}, "limit_price"),
        "post_only",
    ),
    ("add_order", "post_only not a bool", {**LIMIT, "post_only": "true"}, "post_only"),
    (
        "add_order",
        "cl_ord_id with conditional",
        {
            **LIMIT,
            "cl_ord_id": UUID,
            "conditional": {"order_type": "limit", "limit_price": D(27000)},
        },
        "cl_ord_id",
    ),
    (
        "add_order",
        "conditional without order_type",
        {**LIMIT, "conditional": {"limit_price": D(1)}},
        "conditional.order_type",
    ),
    (
        "add_order",
        "conditional limit without limit_price",
        {**LIMIT, "conditional": {"order_type": "limit"}},
        "conditional.limit_price",
    ),
    (
        "add_order",
        "conditional stop without trigger",
        {**LIMIT, "conditional": {"order_type": "stop-loss"}},
        "conditional.trigger_price",
    ),
    (
        "add_order",
        "conditional market",
        {**LIMIT, "conditional": {"order_type": "market"}},
        "conditional.order_type",
    ),
    (
        "add_order",
        "conditional float",
        {**LIMIT, "conditional": {"order_type": "limit", "limit_price": 1.5}},
        "conditional.limit_price",
    ),
    ("add_order", "order_userref above int32", {**LIMIT, "order_userref": 2**31}, "order_userref"),
    (
        "add_order",
        "order_userref below int32",
        {**LIMIT, "order_userref": -(2**31) - 1},
        "order_userref",
    ),
    ("add_order", "order_userref bool", {**LIMIT, "order_userref": True}, "order_userref"),
    (
        "add_order",
        "cash_order_qty on a limit",
        {**_without(LIMIT, "order_qty"), "cash_order_qty": D(100)},
        "cash_order_qty",
    ),
    (
        "add_order",
        "cash_order_qty on a sell",
        _without(
            {**LIMIT, "order_type": "market", "side": "sell", "cash_order_qty": D(100)},
            "limit_price",
            "order_qty",
        ),
        "cash_order_qty",
    ),
    (
        "add_order",
        "cash_order_qty with margin",
        _without(
            {**LIMIT, "order_type": "market", "margin": True, "cash_order_qty": D(100)},
            "limit_price",
            "order_qty",
        ),
        "cash_order_qty",
    ),
    ("add_order", "bad stp_type", {**LIMIT, "stp_type": "cancel-newest"}, "stp_type"),
    ("add_order", "bad fee_preference", {**LIMIT, "fee_preference": "usd"}, "fee_preference"),
    ("add_order", "deadline naive", {**LIMIT, "deadline": datetime(2030, 1, 1)}, "deadline"),
    ("batch_add", "batch of 1", _batch(1), "orders"),
    ("batch_add", "batch of 16", _batch(16), "orders"),
    (
        "batch_add",
        "mixed symbols",
        {**_batch(2), "orders": [_without(LIMIT, "symbol"), {**LIMIT, "symbol": "ETH/USD"}]},
        "orders.1.symbol",
    ),
    (
        "batch_add",
        "invalid order in batch",
        {**_batch(2), "orders": [_without(LIMIT, "symbol"), _without(LIMIT, "symbol", "side")]},
        "orders.1.side",
    ),
    (
        "batch_add",
        "validate per order",
        {
            **_batch(2),
            "orders": [_without(LIMIT, "symbol"), {**_without(LIMIT, "symbol"), "validate": True}],
        },
        "orders.1.validate",
    ),
    (
        "batch_add",
        "float in batch",
        {
            **_batch(2),
            "orders": [_without(LIMIT, "symbol"), {**_without(LIMIT, "symbol"), "order_qty": 0.5}],
        },
        "orders.1.order_qty",
    ),
    ("batch_add", "missing symbol", _without(_batch(2), "symbol"), "symbol"),
    ("batch_cancel", "batch cancel of 1", {"orders": ["O1"]}, "orders"),
    ("batch_cancel", "batch cancel of 51", {"orders": [f"O{i}" for i in range(51)]}, "orders"),
    (
        "batch_cancel",
        "batch cancel bad cl_ord_id",
        {"orders": ["O1"], "cl_ord_id": ["x" * 30]},
        "cl_ord_id.0",
    ),
    ("cancel_order", "cancel nothing", {}, "order_id"),
    ("cancel_order", "cancel empty list", {"order_id": []}, "order_id"),
    ("cancel_order", "cancel id not a list", {"order_id": "O1"}, "order_id"),
    ("cancel_order", "cancel userref out of range", {"order_userref": [2**31]}, "order_userref.0"),
    ("cancel_all_orders_after", "timeout 86400", {"timeout": 86400}, "timeout"),
    ("cancel_all_orders_after", "timeout negative", {"timeout": -1}, "timeout"),
    ("cancel_all_orders_after", "timeout float", {"timeout": 60.0}, "timeout"),
    ("cancel_all_orders_after", "timeout missing", {}, "timeout"),
    ("cancel_all", "cancel_all takes nothing", {"symbol": "BTC/USD"}, "symbol"),
    ("amend_order", "amend without id", {"limit_price": D(1)}, "order_id"),
    (
        "amend_order",
        "amend with both ids",
        {"order_id": "O1", "cl_ord_id": UUID, "limit_price": D(1)},
        "cl_ord_id",
    ),
    ("amend_order", "amend nothing", {"order_id": "O1", "post_only": True}, "order_qty"),
    ("amend_order", "amend zero qty", {"order_id": "O1", "order_qty": D(0)}, "order_qty"),
    ("amend_order", "amend float", {"order_id": "O1", "limit_price": 1.5}, "limit_price"),
    (
        "amend_order",
        "amend static price negative",
        {"order_id": "O1", "limit_price": D(-1)},
        "limit_price",
    ),
    ("amend_order", "amend unknown", {"order_id": "O1", "order_qty": D(1), "side": "buy"}, "side"),
    (
        "edit_order",
        "edit with cl_ord_id",
        {"order_id": "O1", "symbol": "BTC/USD", "cl_ord_id": UUID},
        "cl_ord_id",
    ),
    ("edit_order", "edit without symbol", {"order_id": "O1", "order_qty": D(1)}, "symbol"),
    ("edit_order", "edit without order_id", {"symbol": "BTC/USD"}, "order_id"),
    (
        "edit_order",
        "edit deprecated price",
        {"order_id": "O1", "symbol": "BTC/USD", "price": D(1)},
        "price",
    ),
    (
        "edit_order",
        "edit display too small",
        {"order_id": "O1", "symbol": "BTC/USD", "order_qty": D(30), "display_qty": D(1)},
        "display_qty",
    ),
    ("nonsense_method", "unknown method", {}, "method"),
]


@pytest.mark.parametrize(
    ("method", "fields", "field"), [(m, f, e) for m, _, f, e in CASES], ids=[c[1] for c in CASES]
)
def test_refused_locally(method: str, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(LocalRejection) as info:
        build_params(method, fields)
    assert info.value.field == field
    assert info.value.reason


def test_float_refusal_says_why() -> None:
    with pytest.raises(LocalRejection, match="float"):
        build_params("add_order", {**LIMIT, "order_qty": 1.2})


def test_not_a_mapping() -> None:
    with pytest.raises(LocalRejection) as info:
        build_params("add_order", [("order_type", "limit")])  # type: ignore[arg-type]
    assert info.value.field == "params"


VALID: list[tuple[str, dict[str, Any]]] = [
    ("add_order", {**LIMIT, "cl_ord_id": "da8e4ad59b78481c93e589746b0cf91f"}),
    ("add_order", {**LIMIT, "cl_ord_id": "arb-20240509-00010"}),
    ("add_order", {**LIMIT, "order_qty": 2, "limit_price": "26500.40"}),
    (
        "add_order",
        _without(
            {**LIMIT, "order_type": "market", "cash_order_qty": D(100)}, "limit_price", "order_qty"
        ),
    ),
    ("add_order", _without({**LIMIT, "order_type": "settle-position"}, "limit_price")),
    ("add_order", {**LIMIT, "order_type": "iceberg", "order_qty": D(15), "display_qty": D(1)}),
    (
        "add_order",
        _without(
            {
                **LIMIT,
                "order_type": "trailing-stop",
                "triggers": {"price": D("1.5"), "price_type": "pct"},
            },
            "limit_price",
        ),
    ),
    (
        "add_order",
        {
            **LIMIT,
            "order_type": "trailing-stop-limit",
            "limit_price": D("-10"),
            "limit_price_type": "quote",
            "triggers": {"price": D("50"), "price_type": "quote", "reference": "index"},
        },
    ),
    (
        "add_order",
        {
            **LIMIT,
            "time_in_force": "gtd",
            "expire_time": _at(5),
            "effective_time": _at(1),
            "deadline": _at(2),
        },
    ),
    (
        "add_order",
        {
            **LIMIT,
            "order_userref": -(2**31),
            "margin": True,
            "reduce_only": True,
            "post_only": True,
            "no_mpp": True,
            "stp_type": "cancel_oldest",
            "fee_preference": "base",
            "validate": True,
            "time_in_force": "fok",
            "sender_sub_id": UUID,
        },
    ),
    (
        "add_order",
        {
            **LIMIT,
            "conditional": {
                "order_type": "trailing-stop-limit",
                "trigger_price": D(1),
                "trigger_price_type": "pct",
                "limit_price": D("-0.5"),
                "limit_price_type": "quote",
            },
        },
    ),
    ("cancel_order", {"order_id": ["O1"], "cl_ord_id": [UUID], "order_userref": [1, -2]}),
    ("cancel_all", {}),
    ("cancel_all_orders_after", {"timeout": 0}),
    ("cancel_all_orders_after", {"timeout": 86399}),
    ("batch_cancel", {"orders": ["O1", 7], "cl_ord_id": [UUID]}),
    ("batch_cancel", {"cl_ord_id": [UUID, "abc"]}),
    ("batch_add", _batch(15, validate=True, deadline=_at())),
    ("amend_order", {"cl_ord_id": UUID, "trigger_price": D("-2"), "trigger_price_type": "pct"}),
    (
        "edit_order",
        {
            "order_id": "O1",
            "symbol": "BTC/USD",
            "limit_price": D(1),
            "triggers": {"price": D(2)},
            "order_userref": 5,
            "validate": False,
        },
    ),
]


@pytest.mark.parametrize(("method", "fields"), VALID)
def test_accepted(method: str, fields: dict[str, Any]) -> None:
    build_params(method, fields)


def test_times_at_kraken_precision() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    params = build_params(
        "add_order",
        {**LIMIT, "time_in_force": "gtd", "expire_time": at, "effective_time": at, "deadline": at},
    )
    assert params["expire_time"] == params["effective_time"] == "2030-01-02T03:04:05Z"
    assert params["deadline"] == "2030-01-02T03:04:05.678Z"


def test_userref_in_batch_cancel_becomes_text_and_repeated_symbol_is_dropped() -> None:
    assert build_params("batch_cancel", {"orders": ["O1", 7]}) == {"orders": ["O1", "7"]}
    params = build_params("batch_add", {**_batch(2), "orders": [LIMIT, LIMIT]})
    assert all("symbol" not in order for order in params["orders"])


def test_cancel_ids_accept_tuples() -> None:
    assert build_params("cancel_order", {"order_id": ("O1", "O2")}) == {"order_id": ["O1", "O2"]}
