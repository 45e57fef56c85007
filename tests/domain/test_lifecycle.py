"""The lifecycle table, walked pair by pair, and the scenarios of kraken-spot-v2 §5.7."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain import lifecycle as lc
from engine.domain.lifecycle import OrderStatus as S
from engine.domain.order import Order, apply_fill, apply_report, trigger_for_report
from engine.domain.reports import FillReport, OrderStatusReport

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
QTY = Decimal("1.0")

# One sample of each trigger. A trigger class added to the lifecycle but not here fails below.
SAMPLES: dict[type[lc.Trigger], lc.Trigger] = {
    lc.Sent: lc.Sent(),
    lc.Acknowledged: lc.Acknowledged("OABC-1"),
    lc.Rejected: lc.Rejected("EOrder:Insufficient funds"),
    lc.OutcomeUnknown: lc.OutcomeUnknown("timeout"),
    lc.NeverSent: lc.NeverSent("queue timeout"),
    lc.PendingNewReported: lc.PendingNewReported(),
    lc.NewReported: lc.NewReported(),
    lc.TradeReported: lc.TradeReported(Decimal("0.5")),
    lc.FilledReported: lc.FilledReported(),
    lc.CanceledReported: lc.CanceledReported(),
    lc.ExpiredReported: lc.ExpiredReported(),
    lc.AmendedReported: lc.AmendedReported(order_qty=Decimal("2"), limit_price=Decimal("101")),
    lc.RestatedReported: lc.RestatedReported(order_qty=Decimal("0.9")),
    lc.StatusChangeReported: lc.StatusChangeReported("status"),
}

# The cum_qty each state's sample order carries (consistent with the status).
CUM = {S.PARTIALLY_FILLED: Decimal("0.4"), S.FILLED: QTY}

# Expected status after (state, sample trigger); None = illegal. Written out by hand, on purpose
# a second copy of the table: a change to one without the other fails.
PS, SU, PN, NW, PF = S.PENDING_SUBMIT, S.SUBMITTED, S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED
FI, CA, EX, RJ, NS = S.FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.NOT_SENT
STATES = [PS, SU, PN, NW, PF, FI, CA, EX, RJ, NS]
NO: S | None = None  # illegal
# fmt: off
EXPECTED_ROWS: dict[type[lc.Trigger], list[S | None]] = {
    #                          PS  SU  PN  NW  PF  FI  CA  EX  RJ  NS
    lc.Sent:                  [SU, SU, PN, NW, PF, FI, CA, EX, NO, NO],
    lc.Acknowledged:          [PN, PN, PN, NW, PF, FI, CA, EX, NO, PN],
    lc.Rejected:              [RJ, RJ, NO, NO, NO, NO, NO, NO, RJ, RJ],
    lc.OutcomeUnknown:        [PS, SU, PN, NW, PF, FI, CA, EX, RJ, NS],
    lc.NeverSent:             [NS, NS, NO, NO, NO, NO, NO, NO, NO, NS],
    lc.PendingNewReported:    [PN, PN, PN, NW, PF, NO, NO, NO, NO, PN],
    lc.NewReported:           [NW, NW, NW, NW, PF, NO, NO, NO, NO, NW],
    lc.TradeReported:         [PF, PF, PF, PF, PF, FI, CA, EX, NO, PF],
    lc.FilledReported:        [FI, FI, FI, FI, FI, FI, FI, FI, NO, FI],
    lc.CanceledReported:      [CA, CA, CA, CA, CA, FI, CA, NO, NO, CA],
    lc.ExpiredReported:       [EX, EX, EX, EX, EX, FI, NO, EX, NO, EX],
    lc.AmendedReported:       [PN, PN, PN, NW, PF, NO, NO, NO, NO, PN],
    lc.RestatedReported:      [PN, PN, PN, NW, PF, NO, NO, NO, NO, PN],
    lc.StatusChangeReported:  [PN, PN, PN, NW, PF, NO, NO, NO, NO, PN],
}
# fmt: on
EXPECTED = {
    (state, trigger): row[i]
    for trigger, row in EXPECTED_ROWS.items()
    for i, state in enumerate(STATES)
}


def make_order(status: S = PS, **overrides: object) -> Order:
    values: dict[str, object] = {
        "cl_ord_id": "6d1b3a8e-8f0b-4c4e-9a57-1f9b8c2d7e01",
        "account": "main",
        "symbol": "BTC/USD",
        "side": "buy",
        "order_type": "limit",
        "order_qty": QTY,
        "limit_price": Decimal("100"),
        "status": status,
        "cum_qty": CUM.get(status, Decimal(0)),
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(overrides)
    return Order(**values)  # type: ignore[arg-type]


def report(exec_type: str | None, **fields_: object) -> OrderStatusReport:
    return OrderStatusReport(order_id="OABC-1", exec_type=exec_type, **fields_)  # type: ignore[arg-type]


# --- the table, exhaustively ----------------------------------------------------------------


def test_every_state_and_trigger_is_covered() -> None:
    assert set(S) == set(STATES)
    # by name: slots=True dataclasses leave their pre-slots class behind in __subclasses__()
    declared = {cls.__name__ for cls in lc.Trigger.__subclasses__()}
    assert {cls.__name__ for cls in lc.TRIGGER_TYPES} == declared
    assert set(lc.TRIGGER_TYPES) == set(SAMPLES)
    assert set(EXPECTED_ROWS) == set(lc.TRIGGER_TYPES)
    assert set(S) == lc.TERMINAL | lc.LIVE
    assert not lc.TERMINAL & lc.LIVE
    assert lc.LIVE == lc.IN_FLIGHT | lc.WORKING


def test_table_has_no_pair_the_expectations_lack() -> None:
    legal = {pair for pair, target in EXPECTED.items() if target is not None}
    assert set(lc.transition_table()) == legal


@pytest.mark.parametrize(
    ("state", "trigger_type"),
    list(itertools.product(STATES, lc.TRIGGER_TYPES)),
    ids=lambda v: v.value if isinstance(v, S) else v.__name__,
)
def test_every_pair(state: S, trigger_type: type[lc.Trigger]) -> None:
    order = make_order(state)
    snapshot = replace(order)
    trigger = SAMPLES[trigger_type]
    expected = EXPECTED[(state, trigger_type)]
    if expected is None:
        with pytest.raises(lc.InvalidTransition) as info:
            lc.apply(order, trigger, now=T1)
        assert info.value.status is state
        assert info.value.trigger is trigger
        assert order == snapshot
        return
    after = lc.apply(order, trigger, now=T1)
    assert after.status is expected
    assert order == snapshot  # the input is never touched
    if after is not order:
        assert after.updated_at == T1
    if expected in lc.TERMINAL and state not in lc.TERMINAL:
        assert after.closed_at == T1
    if expected not in lc.TERMINAL:
        assert after.closed_at is None


@pytest.mark.parametrize("state", STATES)
def test_outcome_unknown_changes_nothing(state: S) -> None:
    order = make_order(state)
    assert lc.apply(order, lc.OutcomeUnknown("socket closed"), now=T1) is order


def test_status_values_are_the_contract_words() -> None:
    assert [s.value for s in S] == [
        "pending_submit",
        "submitted",
        "pending_new",
        "new",
        "partially_filled",
        "filled",
        "canceled",
        "expired",
        "rejected",
        "not_sent",
    ]


# --- field effects --------------------------------------------------------------------------


def test_sent_records_sent_at_once() -> None:
    sent = lc.apply(make_order(PS), lc.Sent(), now=T1)
    assert (sent.status, sent.sent_at, sent.updated_at) == (SU, T1, T1)
    assert lc.apply(sent, lc.Sent(), now=T2) is sent


def test_ack_records_order_id_and_time() -> None:
    acked = lc.apply(make_order(SU), lc.Acknowledged("OABC-1"), now=T1)
    assert (acked.status, acked.order_id, acked.acknowledged_at) == (PN, "OABC-1", T1)


def test_ack_after_filled_only_records_the_order_id() -> None:
    filled = make_order(FI, closed_at=T1)
    acked = lc.apply(filled, lc.Acknowledged("OABC-1"), now=T2)
    assert acked.status is FI
    assert acked.order_id == "OABC-1"
    assert acked.closed_at == T1
    assert acked.cum_qty == QTY


def test_rejection_keeps_the_error_as_reason() -> None:
    rejected = lc.apply(make_order(SU), lc.Rejected("EOrder:Insufficient funds"), now=T1)
    assert rejected.reason == "EOrder:Insufficient funds"
    assert rejected.closed_at == T1
    assert rejected.is_terminal and not rejected.is_live


def test_trade_completing_the_order_is_filled_by_quantity() -> None:
    order = make_order(NW)
    assert lc.apply(order, lc.TradeReported(QTY), now=T1).status is FI
    assert lc.apply(order, lc.TradeReported(Decimal("1.5")), now=T1).status is FI
    assert lc.apply(order, lc.TradeReported(Decimal("0.1")), now=T1).status is PF


def test_an_order_sized_in_the_quote_currency_is_filled_only_by_krakens_word() -> None:
    """order_qty 0: not known in the base currency (a market buy by cash_order_qty)."""
    order = make_order(NW, order_qty=Decimal(0))
    order = run(order, trade("0.4", "40"))
    assert (order.status, order.cum_qty) == (PF, Decimal("0.4"))
    order = run(order, trade("0.7", "70"))
    assert order.status is PF
    order = run(order, report("filled", order_status="filled", cum_qty=Decimal("0.7")))
    assert (order.status, order.cum_qty) == (FI, Decimal("0.7"))
    canceled = make_order(CA, order_qty=Decimal(0))
    assert lc.apply(canceled, lc.TradeReported(QTY), now=T1).status is CA


def test_trade_without_quantity_does_not_invent_a_fill() -> None:
    assert lc.apply(make_order(SU), lc.TradeReported(None), now=T1).status is NW
    order = make_order(PF)
    assert lc.apply(order, lc.TradeReported(None), now=T1) is order


def test_trade_never_lowers_cum_qty() -> None:
    order = make_order(PF)
    assert lc.apply(order, lc.TradeReported(Decimal("0.1")), now=T1) is order


def test_fill_racing_a_cancel_ends_filled_whichever_arrives_first() -> None:
    canceled = make_order(CA, cum_qty=Decimal("0.4"), closed_at=T1)
    late_full = lc.apply(canceled, lc.TradeReported(QTY), now=T2)
    assert (late_full.status, late_full.cum_qty, late_full.closed_at) == (FI, QTY, T1)
    late_partial = lc.apply(canceled, lc.TradeReported(Decimal("0.6")), now=T2)
    assert (late_partial.status, late_partial.cum_qty) == (CA, Decimal("0.6"))
    filled = make_order(FI)
    assert lc.apply(filled, lc.CanceledReported(), now=T2) is filled


def test_not_sent_reopened_by_kraken_evidence_clears_closed_at() -> None:
    not_sent = lc.apply(make_order(SU), lc.NeverSent("no trace after deadline"), now=T1)
    assert (not_sent.status, not_sent.closed_at, not_sent.reason) == (
        NS,
        T1,
        "no trace after deadline",
    )
    found = lc.apply(not_sent, lc.NewReported(), now=T2)
    assert (found.status, found.closed_at) == (NW, None)


def test_amend_changes_terms_and_counts_once() -> None:
    order = make_order(NW)
    trigger = lc.AmendedReported(order_qty=Decimal("2"), limit_price=Decimal("99"))
    amended = lc.apply(order, trigger, now=T1)
    assert (amended.order_qty, amended.limit_price, amended.amend_count) == (
        Decimal("2"),
        Decimal("99"),
        1,
    )
    assert amended.status is NW
    assert lc.apply(amended, trigger, now=T2) is amended


def test_amend_down_to_the_filled_quantity_completes_the_order() -> None:
    order = make_order(PF)
    amended = lc.apply(order, lc.AmendedReported(order_qty=Decimal("0.4")), now=T1)
    assert amended.status is FI


def test_restated_changes_terms_without_counting_an_amend() -> None:
    order = make_order(NW)
    restated = lc.apply(order, lc.RestatedReported(order_qty=Decimal("0.5")), now=T1)
    assert (restated.order_qty, restated.amend_count) == (Decimal("0.5"), 0)


# --- reports (§5.7 scenarios) ---------------------------------------------------------------


def run(order: Order, *reports: OrderStatusReport) -> Order:
    for i, r in enumerate(reports):
        order = apply_report(order, r, now=T0 + timedelta(seconds=i + 1))
    return order


PENDING_NEW = report(
    "pending_new", order_status="pending_new", order_qty=QTY, limit_price=Decimal("100")
)
NEW = report("new", order_status="new")


def trade(cum: str, cost: str, status: str = "partially_filled") -> OrderStatusReport:
    return report(
        "trade",
        order_status=status,
        cum_qty=Decimal(cum),
        cum_cost=Decimal(cost),
        avg_price=Decimal(cost) / Decimal(cum),
    )


def test_resting_limit_then_filled() -> None:
    order = lc.apply(make_order(PS), lc.Sent(), now=T0)
    order = run(order, PENDING_NEW, NEW)
    assert (order.status, order.order_id) == (NW, "OABC-1")
    order = run(order, trade("0.4", "40"))
    assert (order.status, order.remaining_qty) == (PF, Decimal("0.6"))
    order = run(order, trade("1.0", "100"))  # says partially_filled, completes the order
    assert order.status is FI
    assert (order.cum_qty, order.cum_cost, order.avg_price) == (QTY, Decimal(100), Decimal(100))
    closed_at = order.closed_at
    final = run(order, report("filled", order_status="filled", cum_qty=QTY))
    assert final is order  # the separate filled report adds nothing
    assert final.closed_at == closed_at


def test_filled_report_without_quantities_is_a_no_op_after_the_last_trade() -> None:
    order = run(make_order(SU), PENDING_NEW, NEW, trade("1.0", "100"))
    assert run(order, report("filled", order_status="filled")) is order


def test_trade_status_filled_is_not_believed() -> None:
    order = run(make_order(SU), NEW, trade("0.5", "50", status="filled"))
    assert order.status is PF


def test_ack_after_executions() -> None:
    order = lc.apply(make_order(PS), lc.Sent(), now=T0)
    order = run(order, PENDING_NEW, NEW, trade("0.5", "50"))
    acked = lc.apply(order, lc.Acknowledged("OABC-1"), now=T2)
    assert (acked.status, acked.order_id, acked.acknowledged_at, acked.cum_qty) == (
        PF,
        "OABC-1",
        T2,
        Decimal("0.5"),
    )


def test_executions_before_the_ack_even_unsent() -> None:
    order = run(make_order(PS), trade("0.5", "50"))
    assert (order.status, order.order_id) == (PF, "OABC-1")


def test_cancel_with_partial_fill() -> None:
    order = run(make_order(SU), PENDING_NEW, NEW, trade("0.3", "30"))
    canceled = run(
        order,
        report(
            "canceled",
            order_status="canceled",
            cum_qty=Decimal("0.3"),
            cum_cost=Decimal("30"),
            avg_price=Decimal("100"),
            reason="User requested",
        ),
    )
    assert (canceled.status, canceled.cum_qty, canceled.reason) == (
        CA,
        Decimal("0.3"),
        "User requested",
    )
    assert canceled.remaining_qty == Decimal("0.7")
    assert canceled.is_terminal


def test_post_only_cancel() -> None:
    order = run(
        make_order(SU),
        PENDING_NEW,
        report(
            "canceled",
            order_status="canceled",
            cum_qty=Decimal(0),
            cum_cost=Decimal(0),
            avg_price=Decimal(0),
            reason="Post only order",
        ),
    )
    assert (order.status, order.reason, order.cum_qty, order.avg_price) == (
        CA,
        "Post only order",
        Decimal(0),
        None,
    )


def test_amend_report_changes_qty_and_price() -> None:
    order = run(make_order(SU), PENDING_NEW, NEW)
    amended = run(
        order,
        report("amended", order_status="new", order_qty=Decimal("3"), limit_price=Decimal("98")),
    )
    assert (amended.status, amended.order_qty, amended.limit_price, amended.amend_count) == (
        NW,
        Decimal("3"),
        Decimal("98"),
        1,
    )


def test_late_pending_new_after_new_is_ignored() -> None:
    order = run(make_order(SU), NEW)
    assert run(order, PENDING_NEW) is order


def test_rest_reports_map_their_status() -> None:
    rest = {"source": "reconciliation"}
    order = make_order(SU)
    assert run(order, report(None, order_status="new", **rest)).status is NW
    assert run(order, report(None, order_status="open", cum_qty=Decimal("0.2"))).status is PF
    partial = report(None, order_status="partially_filled", cum_qty=Decimal("0.2"))
    assert run(order, partial).status is PF
    assert run(order, report(None, order_status="closed", cum_qty=QTY)).status is FI
    assert run(order, report(None, order_status="canceled")).status is CA
    assert run(order, report(None, order_status="expired")).status is EX
    assert run(order, report(None, order_status="pending")).status is PN
    assert run(order, report(None)).status is PN


@pytest.mark.parametrize(
    ("exec_type", "expected"),
    [
        ("pending_new", lc.PendingNewReported()),
        ("new", lc.NewReported()),
        ("filled", lc.FilledReported()),
        ("canceled", lc.CanceledReported()),
        ("expired", lc.ExpiredReported()),
        ("status", lc.StatusChangeReported()),
        ("iceberg_refill", lc.StatusChangeReported("iceberg_refill")),
        ("something_new", lc.StatusChangeReported("something_new")),
    ],
)
def test_trigger_for_report(exec_type: str, expected: lc.Trigger) -> None:
    assert trigger_for_report(report(exec_type, order_status="filled")) == expected


def test_duplicated_report_applied_twice_equals_once() -> None:
    order = run(make_order(SU), PENDING_NEW, NEW)
    for r in (
        trade("0.5", "50"),
        report("amended", order_qty=Decimal("2")),
        report("canceled", order_status="canceled", reason="User requested"),
    ):
        once = apply_report(order, r, now=T1)
        twice = apply_report(once, r, now=T2)
        assert twice is once
        order = once


def test_stale_quantities_are_ignored() -> None:
    order = run(make_order(SU), NEW, trade("0.5", "50"))
    stale = run(order, report(None, order_status="open", cum_qty=Decimal("0.2")))
    assert stale is order


# --- fills ----------------------------------------------------------------------------------


def fill(exec_id: str, qty: str, price: str, fee: str = "0.01") -> FillReport:
    return FillReport(
        exec_id=exec_id,
        order_id="OABC-1",
        last_qty=Decimal(qty),
        last_price=Decimal(price),
        fee=Decimal(fee),
    )


def test_fill_after_its_report_adds_only_the_fee() -> None:
    order = run(make_order(SU), NEW, trade("0.5", "50"))
    after = apply_fill(order, fill("T1", "0.5", "100"), now=T2)
    assert (after.cum_qty, after.cum_cost, after.fees, after.status) == (
        Decimal("0.5"),
        Decimal("50"),
        Decimal("0.01"),
        PF,
    )


def test_fill_before_its_report_advances_quantities_once() -> None:
    order = run(make_order(SU), NEW)
    after = apply_fill(order, fill("T1", "0.4", "100"), now=T1)
    after = apply_fill(after, fill("T2", "0.6", "110"), now=T1)
    assert (after.status, after.cum_qty, after.cum_cost) == (FI, QTY, Decimal("106"))
    assert after.avg_price == Decimal("106")
    assert after.fees == Decimal("0.02")
    reported = run(after, trade("1.0", "106"), report("filled", order_status="filled"))
    assert reported.cum_qty == QTY
    assert reported.status is FI


def test_fill_on_a_rejected_order_raises() -> None:
    order = make_order(RJ)
    with pytest.raises(lc.InvalidTransition):
        apply_fill(order, fill("T1", "0.4", "100"), now=T1)


# --- properties -----------------------------------------------------------------------------

# The documented ways out of a terminal status.
REOPENING = {(CA, FI), (EX, FI)} | {(NS, s) for s in S if s not in (NS, PS, SU)}

_quantities = st.decimals(min_value=0, max_value=2, places=2)
_reports = st.one_of(
    st.builds(
        report,
        st.sampled_from(
            [
                "pending_new",
                "new",
                "filled",
                "canceled",
                "expired",
                "status",
                "restated",
                "iceberg_refill",
                "surprise",
            ]
        ),
        cum_qty=st.none() | _quantities,
    ),
    st.builds(
        lambda cum: report("trade", order_status="partially_filled", cum_qty=cum),
        _quantities,
    ),
    st.builds(
        lambda status, cum: report(None, order_status=status, cum_qty=cum, source="rest"),
        st.sampled_from(["pending", "open", "closed", "canceled", "expired", "new"]),
        st.none() | _quantities,
    ),
    st.builds(lambda q: report("amended", order_qty=q), st.decimals(1, 3, places=1)),
)
_initial = st.sampled_from([PS, SU, NS])


@settings(max_examples=300, deadline=None)
@given(_initial, st.lists(_reports, max_size=12))
def test_reports_never_lower_cum_qty_and_terminal_absorbs(
    start: S, reports: list[OrderStatusReport]
) -> None:
    order = make_order(start)
    for i, r in enumerate(reports):
        try:
            after = apply_report(order, r, now=T0 + timedelta(seconds=i))
        except lc.InvalidTransition:
            continue
        assert after.cum_qty >= order.cum_qty
        if order.is_terminal and after.status is not order.status:
            assert (order.status, after.status) in REOPENING
        if after.status in (NW, PN):
            assert after.cum_qty == 0
        if after.status is PF:
            assert 0 < after.cum_qty < after.order_qty
        # idempotent: the same report again changes nothing (or is refused, changing nothing)
        with contextlib.suppress(lc.InvalidTransition):
            assert apply_report(after, r, now=T2 + timedelta(days=1)) is after
        order = after


@settings(max_examples=200, deadline=None)
@given(st.lists(_reports, max_size=10))
def test_apply_report_leaves_its_input_alone(reports: list[OrderStatusReport]) -> None:
    order = make_order(SU)
    for r in reports:
        copy = replace(order)
        try:
            after = apply_report(order, r, now=T1)
        except lc.InvalidTransition:
            assert order == copy
            continue
        assert order == copy
        order = after
    assert {f.name for f in fields(order)} >= {"cum_qty", "status"}
