from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.domain.lifecycle import OrderStatus
from engine.domain.order import Order
from engine.domain.reconcile import NeverPlacedPolicy, settle_unseen

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = NeverPlacedPolicy(request_timeout=10, order_deadline=5, rest_lag=10)


def _order(pk: int, sent_s: float, order_id: str | None = None) -> Order:
    return Order(
        pk=pk,
        account="a",
        cl_ord_id=f"c-{pk}",
        order_id=order_id,
        symbol="BTC/USD",
        side="buy",
        order_type="limit",
        order_qty=Decimal(1),
        limit_price=Decimal(1),
        status=OrderStatus.SUBMITTED,
        created_at=T0,
        updated_at=T0,
        sent_at=T0 + timedelta(seconds=sent_s),
    )


def test_never_placed_only_after_the_later_of_timeout_and_deadline_plus_rest_lag() -> None:
    assert POLICY.after(_order(1, 0)) == T0 + timedelta(seconds=20)
    longer_deadline = NeverPlacedPolicy(request_timeout=2, order_deadline=30, rest_lag=10)
    assert longer_deadline.after(_order(1, 0)) == T0 + timedelta(seconds=40)


def test_settle_concludes_the_old_unseen_ones_and_looks_again_for_the_rest() -> None:
    live = [_order(1, 0), _order(2, 5), _order(3, 0), _order(4, 0, order_id="O-4")]
    settled = settle_unseen(live, seen={3}, taken_at=T0 + timedelta(seconds=21), policy=POLICY)
    assert [o.pk for o in settled.never_placed] == [1]  # 3 was seen, 4 has Kraken's id
    assert settled.look_again_at == T0 + timedelta(seconds=25)


def test_nothing_to_settle_means_no_second_look() -> None:
    settled = settle_unseen([], seen=set(), taken_at=T0, policy=POLICY)
    assert settled.never_placed == () and settled.look_again_at is None
