"""The simulated venue: accounts, orders, fills, dead man's switches, counters, ground truth.

Theory of operation. One re-entrant lock (inside a Condition) guards everything. Transports
call one method per request; the method validates, mutates, and pushes executions reports to
the listeners (WebSocket sessions) of the order's API key while still holding the lock, so
every listener sees reports in exchange order. Listeners only enqueue (they never block on a
socket). A method's response is handed to a `respond` callback, also under the lock, either
before or after its executions (`Behaviour.ack_first`). Every change bumps `version` and wakes
the Condition: long-polls (`wait_version`), `wait_for` and the timer thread all wait on it.

Matching is deliberately simple: market orders (and limit orders crossing the per-symbol
reference price) fill at once at the reference price as taker; everything else rests until a
control call fills it as maker.
"""

from __future__ import annotations

import base64
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from engine.kraken import ratelimit
from engine.simulator.faults import Faults
from engine.simulator.model import (
    LIMIT_PRICED,
    TRIGGERED,
    Behaviour,
    DeadMansSwitch,
    Order,
    OrderSpec,
    SimError,
    Trade,
    epoch,
    rfc3339,
    rfc3339_s,
)
from engine.simulator.pairs import PAIRS, Pair, find_ws_pair

__all__ = ["Exchange", "ExecutionsListener"]

_TOKEN_LIFETIME_S = 900.0
Report = dict[str, Any]


class ExecutionsListener(Protocol):
    """A subscriber of one API key's executions (a WebSocket session)."""

    def on_executions(self, reports: list[Report], repeat: int = 1) -> None: ...


class _Account:
    __slots__ = ("api_key", "dms", "last_nonce", "secret")

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self.secret = secret
        self.last_nonce = 0
        self.dms = DeadMansSwitch()


class Exchange:
    """Ground truth of the simulated venue. Thread-safe; see the module docstring."""

    def __init__(
        self,
        *,
        tier: str = "pro",
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self._tier = ratelimit.tier(tier)
        self.clock = clock
        self._rng = random.Random(seed)
        self.behaviour = behaviour or Behaviour()
        self.faults = Faults()
        self.cond = threading.Condition(threading.RLock())
        self.version = 0
        self.connections = 0
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, tuple[str, float, bool]] = {}
        self._orders: dict[str, Order] = {}
        self._open: dict[str, dict[str, Order]] = {}  # api_key -> order_id -> open order
        self._open_cl: dict[str, dict[str, Order]] = {}  # api_key -> cl_ord_id -> open order
        self._open_count: dict[tuple[str, str], int] = {}  # (api_key, symbol) -> open orders
        self._gtd: dict[str, Order] = {}  # open orders with an expiry, for the timer thread
        self._trades: list[Trade] = []
        self._trades_by_id: dict[str, Trade] = {}
        self._listeners: dict[str, list[ExecutionsListener]] = {}
        self._counters: dict[tuple[str, str], ratelimit.RateCounter] = {}
        self._reference: dict[str, Decimal] = {p.symbol: p.reference_price for p in PAIRS}
        self._trade_no: dict[str, int] = {p.symbol: 40_000_000 for p in PAIRS}
        self._ids: set[str] = set()
        self._seq = 0
        self._timer: threading.Thread | None = None
        self._running = False

    # ----------------------------------------------------------------- lifecycle

    @property
    def lock(self) -> threading.Condition:
        """Hold it (`with exchange.lock:`) to read several objects consistently."""
        return self.cond

    def start(self) -> None:
        with self.cond:
            if self._running:
                return
            self._running = True
        self._timer = threading.Thread(target=self._run_timers, name="sim-timers", daemon=True)
        self._timer.start()

    def stop(self) -> None:
        with self.cond:
            self._running = False
            self.cond.notify_all()
        if self._timer is not None:
            self._timer.join(timeout=5)
            self._timer = None

    def now(self) -> float:
        return self.clock()

    def _changed(self) -> None:
        self.version += 1
        self.cond.notify_all()

    # ----------------------------------------------------------------- accounts

    def add_account(
        self, api_key: str | None = None, api_secret: str | None = None
    ) -> tuple[str, str]:
        """Register credentials (generated when omitted); returns `(api_key, api_secret)`."""
        key = api_key or base64.b64encode(secrets.token_bytes(42)).decode()
        secret = api_secret or base64.b64encode(secrets.token_bytes(64)).decode()
        with self.cond:
            existing = self._accounts.get(key)
            if existing is None:
                self._accounts[key] = _Account(key, secret)
            else:
                existing.secret = secret
            self._changed()
        return key, secret

    def secret(self, api_key: str) -> str | None:
        with self.cond:
            account = self._accounts.get(api_key)
            return account.secret if account else None

    def accept_nonce(self, api_key: str, nonce: int) -> bool:
        """Kraken's rule: strictly greater than the last accepted nonce of this key."""
        with self.cond:
            account = self._accounts[api_key]
            if nonce <= account.last_nonce:
                return False
            account.last_nonce = nonce
            return True

    def issue_token(self, api_key: str) -> str:
        token = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        with self.cond:
            self._tokens[token] = (api_key, self.now(), False)
        return token

    def resolve_token(self, token: object) -> str | None:
        """The API key behind a WS token, or None when unknown or unused past 900 s."""
        if not isinstance(token, str):
            return None
        with self.cond:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            api_key, created, used = entry
            if not used:
                if self.now() - created > _TOKEN_LIFETIME_S:
                    return None
                self._tokens[token] = (api_key, created, True)
            return api_key

    def issued_tokens(self, api_key: str) -> list[str]:
        """Every token issued to `api_key` and still known: for tests that prove none leaks."""
        with self.cond:
            return [token for token, (key, _, _) in self._tokens.items() if key == api_key]

    def invalidate_tokens(self) -> None:
        """Forget every token, as Kraken does after some upgrades (clients must mint anew)."""
        with self.cond:
            self._tokens.clear()
            self._changed()

    # ----------------------------------------------------------------- listeners

    def add_listener(
        self,
        api_key: str,
        listener: ExecutionsListener,
        before_snapshot: Callable[[], None],
        snapshot: Callable[[list[Report]], None],
        *,
        snap_orders: bool,
        snap_trades: bool,
    ) -> None:
        """Subscribe atomically: ack, snapshot, then live updates, with nothing in between."""
        with self.cond:
            before_snapshot()
            data: list[Report] = []
            if snap_orders:
                open_orders = sorted(self._open.get(api_key, {}).values(), key=lambda o: o.seq)
                data.extend(self._snapshot_order(o) for o in open_orders)
            if snap_trades:
                mine = [t for t in self._trades if t.api_key == api_key][-50:]
                data.extend(self._snapshot_trade(t) for t in mine)
            snapshot(data)
            if self.behaviour.duplicate_snapshot:
                snapshot(data)
            self._listeners.setdefault(api_key, []).append(listener)

    def remove_listener(self, api_key: str, listener: ExecutionsListener) -> None:
        with self.cond:
            listeners = self._listeners.get(api_key, [])
            if listener in listeners:
                listeners.remove(listener)

    def connection_opened(self) -> None:
        with self.cond:
            self.connections += 1
            self._changed()

    def connection_closed(self) -> None:
        with self.cond:
            self.connections -= 1
            self._changed()

    def _emit(self, api_key: str, reports: list[Report]) -> None:
        listeners = self._listeners.get(api_key)
        if not listeners:
            return
        # a lost update: the sequence moves on but the frame never leaves (repeat 0)
        repeat = 0 if self.faults.take("lose_next_execution") else 1
        if repeat and self.faults.take("duplicate_next_execution"):
            repeat = 2
        for listener in list(listeners):
            listener.on_executions(reports, repeat)

    # ----------------------------------------------------------------- helpers

    def _new_id(self, prefix: str) -> str:
        while True:
            chars = base64.b32encode(self._rng.getrandbits(80).to_bytes(10, "big")).decode()
            ident = f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:]}"
            if ident not in self._ids:
                self._ids.add(ident)
                return ident

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _pair(self, symbol: str) -> Pair:
        pair = find_ws_pair(symbol)
        if pair is None:
            raise SimError("EQuery:Unknown asset pair")
        return pair

    def _counter(self, api_key: str, symbol: str) -> ratelimit.RateCounter:
        counter = self._counters.get((api_key, symbol))
        if counter is None:
            counter = ratelimit.RateCounter(self._tier, 0.0, self.now())
            self._counters[(api_key, symbol)] = counter
        return counter

    def _find(self, api_key: str, order_id: str | None, cl_ord_id: str | None) -> Order | None:
        if order_id is not None:
            order = self._orders.get(order_id)
            return order if order is not None and order.api_key == api_key else None
        if cl_ord_id is not None:
            return self._open_cl.get(api_key, {}).get(cl_ord_id)
        return None

    def _track_open(self, order: Order) -> None:
        self._orders[order.order_id] = order
        self._open.setdefault(order.api_key, {})[order.order_id] = order
        if order.spec.cl_ord_id is not None:
            self._open_cl.setdefault(order.api_key, {})[order.spec.cl_ord_id] = order
        slot = (order.api_key, order.spec.symbol)
        self._open_count[slot] = self._open_count.get(slot, 0) + 1
        if order.spec.time_in_force == "gtd" and order.spec.expire_time is not None:
            self._gtd[order.order_id] = order

    def _check_deadline(self, deadline: float | None, now: float) -> None:
        if deadline is None:
            return
        if deadline <= now:
            raise SimError("EService:Deadline elapsed")
        if deadline > now + 60.0:
            raise SimError("EGeneral:Invalid arguments:deadline")

    def _marketable(self, spec: OrderSpec, price: Decimal | None) -> bool:
        if spec.order_type == "market":
            return True
        if spec.order_type not in ("limit", "iceberg") or price is None:
            return False
        if not self.behaviour.match_marketable_limits and spec.time_in_force not in ("ioc", "fok"):
            return False
        ref = self._reference[spec.symbol]
        return price >= ref if spec.side == "buy" else price <= ref

    def _sized_in_base(self, spec: OrderSpec) -> OrderSpec:
        """A market buy sized by `cash_order_qty` gets the base quantity the cash buys at the
        reference price (down to the pair's lot decimals), then passes the usual checks."""
        if spec.cash_order_qty is None or spec.order_qty > 0:
            return spec
        pair = self._pair(spec.symbol)
        lot = Decimal(1).scaleb(-pair.lot_decimals)
        qty = (spec.cash_order_qty / self._reference[spec.symbol]).quantize(lot, ROUND_DOWN)
        if qty <= 0:
            raise SimError("EOrder:Order minimum not met")
        return replace(spec, order_qty=qty)

    def _validate_spec(self, spec: OrderSpec) -> Pair:
        pair = self._pair(spec.symbol)
        qty = spec.order_qty
        if qty <= 0 or -qty.as_tuple().exponent > pair.lot_decimals:  # type: ignore[operator]
            raise SimError("EGeneral:Invalid arguments:order_qty")
        if qty < pair.ordermin:
            raise SimError("EOrder:Order minimum not met")
        if spec.limit_price is not None and spec.order_type in LIMIT_PRICED:
            if spec.limit_price <= 0:
                raise SimError("EOrder:Invalid price")
            if spec.limit_price % pair.tick_size != 0:
                raise SimError("EOrder:Tick size check failed")
        price = (
            spec.limit_price
            if spec.limit_price is not None and spec.order_type in LIMIT_PRICED
            else self._reference[spec.symbol]
        )
        if qty * price < pair.costmin:
            raise SimError("EOrder:Cost minimum not met")
        if spec.order_type == "iceberg" and (
            spec.display_qty is None or spec.display_qty * 15 < qty
        ):
            raise SimError("EGeneral:Invalid arguments:display_qty")
        if (
            spec.post_only
            and self.behaviour.post_only_refusal == "sync"
            and self._marketable(spec, spec.limit_price)
        ):
            raise SimError("EOrder:Post only order")
        return pair

    # ----------------------------------------------------------------- reports

    def _base(self, order: Order, exec_type: str, now: float) -> Report:
        report: Report = {
            "order_id": order.order_id,
            "exec_type": exec_type,
            "order_status": order.status,
            "order_userref": order.spec.order_userref or 0,
            "timestamp": rfc3339(now),
        }
        if order.spec.cl_ord_id is not None:
            report["cl_ord_id"] = order.spec.cl_ord_id
        return report

    def _full_fields(self, order: Order, report: Report) -> Report:
        spec = order.spec
        report.update(
            {
                "symbol": spec.symbol,
                "side": spec.side,
                "order_type": spec.order_type,
                "order_qty": spec.order_qty,
                "cum_cost": order.cum_cost,
                "time_in_force": spec.time_in_force.upper(),
                "fee_usd_equiv": order.fees,
                "fee_ccy_pref": order.fee_ccy_pref,
            }
        )
        if spec.order_type in LIMIT_PRICED and spec.limit_price is not None:
            report["limit_price"] = spec.limit_price
            report["limit_price_type"] = spec.limit_price_type or "static"
        if spec.triggers is not None:
            report["triggers"] = {**spec.triggers, "status": "untriggered"}
        if spec.display_qty is not None:
            report["display_qty"] = spec.display_qty
        if spec.cash_order_qty is not None:
            report["cash_order_qty"] = spec.cash_order_qty
        if spec.expire_time is not None:
            report["expire_time"] = rfc3339_s(spec.expire_time)
        if spec.effective_time is not None:
            report["effective_time"] = rfc3339_s(spec.effective_time)
        for flag in ("post_only", "reduce_only", "margin", "no_mpp"):
            if getattr(spec, flag):
                report[flag] = True
        return report

    def _snapshot_order(self, order: Order) -> Report:
        report = self._full_fields(order, self._base(order, order.status, order.created_at))
        report["exec_type"] = "pending_new" if order.status == "pending_new" else "new"
        report["cum_qty"] = order.cum_qty
        report["avg_price"] = order.avg_price
        if order.amended:
            report["amended"] = True
        return report

    def _trade_report(self, trade: Trade, order: Order | None, status: str) -> Report:
        report: Report = {
            "order_id": trade.order_id,
            "exec_id": trade.exec_id,
            "exec_type": "trade",
            "trade_id": trade.trade_id,
            "symbol": trade.symbol,
            "side": trade.side,
            "last_qty": trade.qty,
            "last_price": trade.price,
            "liquidity_ind": trade.liquidity_ind,
            "cost": trade.cost,
            "order_type": trade.order_type,
            "timestamp": rfc3339(trade.timestamp),
            "order_status": status,
            "fee_usd_equiv": trade.fee,
            "fees": [{"asset": trade.fee_asset, "qty": trade.fee}],
        }
        if order is not None:
            report["order_userref"] = order.spec.order_userref or 0
            if order.spec.cl_ord_id is not None:
                report["cl_ord_id"] = order.spec.cl_ord_id
        return report

    def _snapshot_trade(self, trade: Trade) -> Report:
        order = self._orders[trade.order_id]
        report = self._trade_report(trade, order, "filled")
        # A snapshot trade carries the cumulative figures of the order at that fill.
        cum_qty = Decimal(0)
        cum_cost = Decimal(0)
        for tid in order.trade_ids:
            t = self._trades_by_id[tid]
            cum_qty += t.qty
            cum_cost += t.cost
            if tid == trade.exec_id:
                break
        report["order_status"] = "filled" if cum_qty == order.spec.order_qty else "partially_filled"
        report["cum_qty"] = cum_qty
        report["cum_cost"] = cum_cost
        report["avg_price"] = trade.price if cum_qty == trade.qty else (cum_cost / cum_qty)
        return report

    def _terminal(self, order: Order, exec_type: str, now: float) -> Report:
        report = self._base(order, exec_type, now)
        report.update(
            {
                "cum_qty": order.cum_qty,
                "cum_cost": order.cum_cost,
                "avg_price": order.avg_price,
                "fee_usd_equiv": order.fees,
            }
        )
        if exec_type in ("canceled", "expired") and order.reason is not None:
            report["reason"] = order.reason
            report["cancel_reason"] = order.reason
        return report

    # ----------------------------------------------------------------- state changes

    def _close(self, order: Order, status: str, reason: str | None, now: float) -> None:
        order.status = status
        order.reason = reason
        order.closed_at = now
        order.close_seq = self._next_seq()
        if self._open.get(order.api_key, {}).pop(order.order_id, None) is not None:
            if order.spec.cl_ord_id is not None:
                self._open_cl.get(order.api_key, {}).pop(order.spec.cl_ord_id, None)
            slot = (order.api_key, order.spec.symbol)
            self._open_count[slot] -= 1
            self._gtd.pop(order.order_id, None)

    def _cancel(self, order: Order, reason: str, now: float) -> Report:
        self._close(order, "canceled", reason, now)
        return self._terminal(order, "canceled", now)

    def _execute(
        self, order: Order, qty: Decimal, price: Decimal, liquidity: str, now: float
    ) -> list[Report]:
        """Book one fill; returns its reports (trade, and filled when complete)."""
        pair = self._pair(order.spec.symbol)
        cost = qty * price
        rate = self.behaviour.maker_fee if liquidity == "m" else self.behaviour.taker_fee
        fee = (cost * rate).quantize(Decimal(1).scaleb(-pair.cost_decimals), ROUND_HALF_UP)
        self._trade_no[pair.symbol] += 1
        trade = Trade(
            exec_id=self._new_id("T"),
            trade_id=self._trade_no[pair.symbol],
            order_id=order.order_id,
            api_key=order.api_key,
            symbol=pair.symbol,
            side=order.spec.side,
            order_type=order.spec.order_type,
            price=price,
            qty=qty,
            cost=cost,
            fee=fee,
            fee_asset=pair.quote_ws,
            liquidity_ind=liquidity,
            timestamp=now,
            postxid=self._new_id("T"),
            seq=self._next_seq(),
        )
        self._trades.append(trade)
        self._trades_by_id[trade.exec_id] = trade
        order.trade_ids.append(trade.exec_id)
        order.cum_qty += qty
        order.cum_cost += cost
        order.fees += fee
        complete = order.cum_qty >= order.spec.order_qty
        last_status = (
            "filled" if complete and self.behaviour.filled_on_last_trade else "partially_filled"
        )
        if complete:
            self._close(order, "filled", None, now)
        else:
            order.status = "partially_filled"
        report = self._trade_report(trade, order, last_status)
        report.update(
            {"cum_qty": order.cum_qty, "cum_cost": order.cum_cost, "avg_price": order.avg_price}
        )
        reports = [report]
        if complete and not self.behaviour.filled_on_last_trade:
            reports.append(self._terminal(order, "filled", now))
        return reports

    def _activate(self, order: Order, now: float) -> list[list[Report]]:
        """After pending_new: the order goes live, fills at once, or is refused."""
        spec = order.spec
        if spec.post_only and self._marketable(spec, spec.limit_price):
            return [[self._cancel(order, "Post only order", now)]]
        messages: list[list[Report]] = []
        if self._marketable(spec, spec.limit_price):
            if spec.order_type != "market" or self.behaviour.market_emits_new:
                order.status = "new"
                messages.append([self._base(order, "new", now)])
            for report in self._execute(
                order, order.remaining, self._reference[spec.symbol], "t", now
            ):
                messages.append([report])
            return messages
        if spec.time_in_force in ("ioc", "fok"):
            return [[self._cancel(order, "Immediate or cancel", now)]]
        order.status = "new"
        return [[self._base(order, "new", now)]]

    # ----------------------------------------------------------------- trading

    def add_orders(
        self,
        api_key: str,
        specs: list[OrderSpec],
        respond: Callable[[list[Order]], None],
        *,
        validate: bool = False,
        deadline: float | None = None,
        batch: bool = False,
    ) -> list[Order]:
        """Place one order (or a batch of one symbol): validate all, then place all."""
        with self.cond:
            now = self.now()
            symbol = specs[0].symbol
            self._pair(symbol)
            counter = self._counter(api_key, symbol)
            fixed = ratelimit.batch_add_cost(len(specs)) if batch else ratelimit.add_cost()
            try:
                self._check_deadline(deadline, now)
                specs = [self._sized_in_base(spec) for spec in specs]
                for spec in specs:
                    self._validate_spec(spec)
                live = self._open_cl.get(api_key, {})
                seen: set[str] = set()
                for spec in specs:
                    if spec.cl_ord_id is not None:
                        if spec.cl_ord_id in live or spec.cl_ord_id in seen:
                            raise SimError("EOrder:Duplicate cl_ord_id")
                        seen.add(spec.cl_ord_id)
                on_pair = self._open_count.get((api_key, symbol), 0)
                if on_pair + len(specs) > self._tier.max_open_orders:
                    raise SimError("EOrder:Orders limit exceeded")
            except SimError:
                counter.apply(0.0, now, fixed=fixed, force=True)
                self._changed()
                raise
            if not counter.apply(fixed, now, fixed=fixed):
                self._changed()
                raise SimError("EOrder:Rate limit exceeded")
            if validate:
                self._changed()
                respond([])
                return []
            orders = []
            for spec in specs:
                order = Order(
                    api_key=api_key,
                    order_id=self._new_id("O"),
                    spec=spec,
                    created_at=now,
                    seq=self._next_seq(),
                    modified_at=now,
                )
                self._track_open(order)
                orders.append(order)
            if self.behaviour.ack_first:
                respond(orders)
            for order in orders:
                report = self._full_fields(order, self._base(order, "pending_new", now))
                self._emit(api_key, [report])
            if not self.behaviour.ack_first:
                respond(orders)
            for order in orders:
                for message in self._activate(order, now):
                    self._emit(api_key, message)
            self._changed()
            return orders

    def amend_order(
        self,
        api_key: str,
        *,
        order_id: str | None,
        cl_ord_id: str | None,
        order_qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        display_qty: Decimal | None = None,
        trigger_price: Decimal | None = None,
        post_only: bool = False,
        deadline: float | None = None,
        respond: Callable[[str, Order], None],
    ) -> str:
        """In-place amend keeping ids and fills; returns the amend id."""
        with self.cond:
            now = self.now()
            order = self._find(api_key, order_id, cl_ord_id)
            if order is None or not order.is_open:
                raise SimError("EOrder:Invalid order")
            spec = order.spec
            pair = self._pair(spec.symbol)
            counter = self._counter(api_key, spec.symbol)
            cost = ratelimit.amend_cost(now - order.modified_at)
            try:
                self._check_deadline(deadline, now)
                if limit_price is not None:
                    if spec.order_type not in LIMIT_PRICED:
                        raise SimError("EGeneral:Invalid arguments:limit_price")
                    if limit_price <= 0:
                        raise SimError("EOrder:Invalid price")
                    if limit_price % pair.tick_size != 0:
                        raise SimError("EOrder:Tick size check failed")
                if trigger_price is not None and spec.order_type not in TRIGGERED:
                    raise SimError("EGeneral:Invalid arguments:trigger_price")
                if order_qty is not None:
                    exponent = order_qty.as_tuple().exponent
                    if order_qty <= 0 or -exponent > pair.lot_decimals:  # type: ignore[operator]
                        raise SimError("EGeneral:Invalid arguments:order_qty")
                    if order_qty < pair.ordermin:
                        raise SimError("EOrder:Order minimum not met")
                if display_qty is not None and spec.order_type != "iceberg":
                    raise SimError("EGeneral:Invalid arguments:display_qty")
                new_price = limit_price if limit_price is not None else spec.limit_price
                if post_only and self._marketable(spec, new_price):
                    raise SimError("EOrder:Post only order")
            except SimError:
                counter.apply(0.0, now, fixed=1.0, force=True)
                self._changed()
                raise
            if not counter.apply(cost, now, fixed=1.0):
                self._changed()
                raise SimError("EOrder:Rate limit exceeded")
            if order_qty is not None:
                spec.order_qty = order_qty
            if limit_price is not None:
                spec.limit_price = limit_price
            if display_qty is not None:
                spec.display_qty = display_qty
            if trigger_price is not None and spec.triggers is not None:
                spec.triggers["price"] = trigger_price
            order.amended = True
            order.modified_at = now
            amend_id = self._new_id("T")
            report = self._base(order, "amended", now)
            report.update(
                {
                    "amended": True,
                    "order_qty": spec.order_qty,
                    "cum_qty": order.cum_qty,
                    "reason": "User requested",
                }
            )
            if spec.limit_price is not None:
                report["limit_price"] = spec.limit_price
            if spec.display_qty is not None:
                report["display_qty"] = spec.display_qty
            if self.behaviour.ack_first:
                respond(amend_id, order)
            self._emit(api_key, [report])
            if not self.behaviour.ack_first:
                respond(amend_id, order)
            if order.cum_qty >= spec.order_qty:
                self._emit(api_key, [self._cancel(order, "User requested", now)])
            elif self._marketable(spec, spec.limit_price):
                for rep in self._execute(
                    order, order.remaining, self._reference[spec.symbol], "t", now
                ):
                    self._emit(api_key, [rep])
            self._changed()
            return amend_id

    def edit_order(
        self,
        api_key: str,
        order_id: str,
        symbol: str,
        *,
        order_qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        display_qty: Decimal | None = None,
        triggers: dict[str, Any] | None = None,
        post_only: bool | None = None,
        reduce_only: bool | None = None,
        fee_preference: str | None = None,
        order_userref: int | None = None,
        validate: bool = False,
        deadline: float | None = None,
        respond: Callable[[Order | None, Order], None],
    ) -> Order | None:
        """Legacy cancel-and-replace: a new order id, the old order canceled."""
        with self.cond:
            now = self.now()
            old = self._find(api_key, order_id, None)
            if old is None or not old.is_open:
                raise SimError("EOrder:Invalid order")
            if old.spec.symbol != symbol:
                raise SimError("EGeneral:Invalid arguments:symbol")
            if old.spec.order_type in TRIGGERED or old.spec.conditional is not None:
                raise SimError("EOrder:Invalid order")
            counter = self._counter(api_key, symbol)
            cost = ratelimit.edit_cost(now - old.modified_at)
            s = old.spec
            total = order_qty if order_qty is not None else s.order_qty
            new_spec = OrderSpec(
                symbol=s.symbol,
                side=s.side,
                order_type=s.order_type,
                order_qty=total - old.cum_qty,
                limit_price=limit_price if limit_price is not None else s.limit_price,
                limit_price_type=s.limit_price_type,
                triggers=triggers if triggers is not None else s.triggers,
                time_in_force=s.time_in_force,
                post_only=s.post_only if post_only is None else post_only,
                reduce_only=s.reduce_only if reduce_only is None else reduce_only,
                margin=s.margin,
                expire_time=s.expire_time,
                order_userref=order_userref if order_userref is not None else s.order_userref,
                display_qty=display_qty if display_qty is not None else s.display_qty,
                fee_preference=fee_preference or s.fee_preference,
                stp_type=s.stp_type,
            )
            try:
                self._check_deadline(deadline, now)
                if total < old.cum_qty or new_spec.order_qty <= 0:
                    raise SimError("EOrder:Invalid order")
                self._validate_spec(new_spec)
            except SimError:
                counter.apply(0.0, now, fixed=1.0, force=True)
                self._changed()
                raise
            if not counter.apply(cost, now, fixed=1.0):
                self._changed()
                raise SimError("EOrder:Rate limit exceeded")
            if validate:
                respond(None, old)
                self._changed()
                return None
            new = Order(
                api_key=api_key,
                order_id=self._new_id("O"),
                spec=new_spec,
                created_at=now,
                seq=self._next_seq(),
                modified_at=now,
            )
            self._track_open(new)
            if self.behaviour.ack_first:
                respond(new, old)
            self._emit(api_key, [self._cancel(old, "Order replaced", now)])
            self._emit(api_key, [self._full_fields(new, self._base(new, "pending_new", now))])
            if not self.behaviour.ack_first:
                respond(new, old)
            for message in self._activate(new, now):
                self._emit(api_key, message)
            self._changed()
            return new

    def cancel_orders(
        self,
        api_key: str,
        refs: list[tuple[str, str | int]],
        respond: Callable[[Order | None, str | None, tuple[str, str | int]], None],
        *,
        batch: bool = False,
    ) -> int:
        """Cancel by `("order_id"|"cl_ord_id"|"order_userref", value)`; one respond per order.

        A userref matches every open order carrying it. Unknown or closed ids answer
        `EOrder:Invalid order`. Batches are accepted past the rate maximum (Kraken's rule).
        """
        with self.cond:
            now = self.now()
            targets: list[tuple[Order | None, tuple[str, str | int]]] = []
            for ref in refs:
                kind, value = ref
                if kind == "order_userref":
                    hits = [
                        o
                        for o in sorted(self._open.get(api_key, {}).values(), key=lambda o: o.seq)
                        if o.spec.order_userref == value
                    ]
                    targets.extend((o, ref) for o in hits)
                    if not hits:
                        targets.append((None, ref))
                elif kind == "cl_ord_id":
                    targets.append((self._find(api_key, None, str(value)), ref))
                else:
                    targets.append((self._find(api_key, str(value), None), ref))
            if batch:
                by_symbol: dict[str, list[float]] = {}
                for order, _ in targets:
                    if order is not None and order.is_open:
                        by_symbol.setdefault(order.spec.symbol, []).append(now - order.modified_at)
                for symbol, ages in by_symbol.items():
                    self._counter(api_key, symbol).apply(
                        ratelimit.batch_cancel_cost(ages), now, force=True
                    )
            count = 0
            done: set[str] = set()
            for order, ref in targets:
                if order is None or not order.is_open or order.order_id in done:
                    respond(None, "EOrder:Invalid order", ref)
                    continue
                if not batch:
                    cost = ratelimit.cancel_cost(now - order.modified_at)
                    if not self._counter(api_key, order.spec.symbol).apply(cost, now):
                        respond(None, "EOrder:Rate limit exceeded", ref)
                        continue
                done.add(order.order_id)
                report = self._cancel(order, "User requested", now)
                if self.behaviour.ack_first:
                    respond(order, None, ref)
                self._emit(api_key, [report])
                if not self.behaviour.ack_first:
                    respond(order, None, ref)
                count += 1
            self._changed()
            return count

    def cancel_all(self, api_key: str, reason: str = "User requested") -> int:
        with self.cond:
            count = self._cancel_everything(api_key, reason, self.now())
            self._changed()
            return count

    def _cancel_everything(self, api_key: str, reason: str, now: float) -> int:
        orders = sorted(self._open.get(api_key, {}).values(), key=lambda o: o.seq)
        reports = [self._cancel(order, reason, now) for order in orders]
        if self.behaviour.batch_cancel_reports and reports:
            self._emit(api_key, reports)
        else:
            for report in reports:
                self._emit(api_key, [report])
        return len(reports)

    def cancel_all_orders_after(self, api_key: str, timeout: int) -> tuple[float, float | None]:
        """Arm (timeout > 0, restarting the countdown) or disarm (0) the key's switch."""
        with self.cond:
            now = self.now()
            dms = self._accounts[api_key].dms
            dms.last_timeout = timeout
            if timeout == 0:
                dms.armed = False
                dms.trigger_at = None
            else:
                dms.armed = True
                dms.armed_at = now
                dms.trigger_at = now + timeout
                dms.arm_count += 1
            self._changed()
            return now, dms.trigger_at

    # ----------------------------------------------------------------- timers

    def run_timers(self) -> None:
        """Fire due dead man's switches and expire due GTD orders (the timer thread's step).

        Public so tests driving a fake clock can step it after advancing time.
        """
        with self.cond:
            now = self.now()
            changed = False
            for account in self._accounts.values():
                dms = account.dms
                if dms.armed and dms.trigger_at is not None and dms.trigger_at <= now:
                    dms.armed = False
                    dms.trigger_at = None
                    dms.fired_count += 1
                    self._cancel_everything(account.api_key, self.behaviour.dms_reason, now)
                    changed = True
            for order in sorted(self._gtd.values(), key=_seq):
                expire = order.spec.expire_time
                if expire is not None and expire <= now:
                    self._close(order, "expired", "Order expired", now)
                    self._emit(order.api_key, [self._terminal(order, "expired", now)])
                    changed = True
            if changed:
                self._changed()

    def _next_due(self) -> float | None:
        due = [
            a.dms.trigger_at
            for a in self._accounts.values()
            if a.dms.armed and a.dms.trigger_at is not None
        ]
        due.extend(o.spec.expire_time for o in self._gtd.values() if o.spec.expire_time)
        return min(due) if due else None

    def _run_timers(self) -> None:
        with self.cond:
            while self._running:
                self.run_timers()
                due = self._next_due()
                # Capped so an injected clock that jumps forward is noticed promptly.
                wait = 0.25 if due is None else min(0.25, max(0.0, due - self.now()))
                self.cond.wait(timeout=max(wait, 0.001))

    # ----------------------------------------------------------------- controls

    def fill(
        self, order_id: str, qty: Decimal | None = None, price: Decimal | None = None
    ) -> Trade:
        """Fill a resting order (fully by default) as maker at its limit or a given price."""
        with self.cond:
            order = self._orders.get(order_id)
            if order is None or not order.is_open:
                raise SimError("EOrder:Invalid order")
            amount = order.remaining if qty is None else Decimal(qty)
            if amount <= 0 or amount > order.remaining:
                raise SimError("EGeneral:Invalid arguments:qty")
            at = price if price is not None else order.spec.limit_price
            if at is None:
                at = self._reference[order.spec.symbol]
            now = self.now()
            if order.status == "pending_new":
                order.status = "new"
            for report in self._execute(order, amount, Decimal(at), "m", now):
                self._emit(order.api_key, [report])
            self._changed()
            return self._trades[-1]

    def set_reference_price(self, symbol: str, price: Decimal) -> None:
        with self.cond:
            self._pair(symbol)
            self._reference[symbol] = Decimal(price)
            self._changed()

    def reference_price(self, symbol: str) -> Decimal:
        with self.cond:
            return self._reference[symbol]

    def set_tier(self, name: str) -> None:
        with self.cond:
            self._tier = ratelimit.tier(name)
            now = self.now()
            for counter in self._counters.values():
                counter.set_tier(self._tier, now)
            self._changed()

    @property
    def tier(self) -> ratelimit.Tier:
        return self._tier

    def set_behaviour(self, **options: Any) -> None:
        with self.cond:
            self.behaviour.update(options)
            self._changed()

    def fault_changed(self) -> None:
        """Transports call this after touching `faults` so waiters see the new tally."""
        with self.cond:
            self._changed()

    # ----------------------------------------------------------------- queries

    def orders(self, api_key: str) -> list[Order]:
        """Every order of a key, oldest first (hold `lock` while reading them)."""
        with self.cond:
            return sorted((o for o in self._orders.values() if o.api_key == api_key), key=_seq)

    def open_orders(self, api_key: str) -> list[Order]:
        with self.cond:
            return sorted(self._open.get(api_key, {}).values(), key=_seq)

    def order(self, order_id: str) -> Order | None:
        with self.cond:
            return self._orders.get(order_id)

    def trades(self, api_key: str | None = None) -> list[Trade]:
        with self.cond:
            return [t for t in self._trades if api_key is None or t.api_key == api_key]

    def trade(self, exec_id: str) -> Trade | None:
        with self.cond:
            return self._trades_by_id.get(exec_id)

    def state(self) -> dict[str, Any]:
        """Ground truth as plain JSON-ready data (Decimals exact, times as epoch Decimals)."""
        with self.cond:
            now = self.now()
            return {
                "version": self.version,
                "time": epoch(now),
                "tier": self._tier.name,
                "connections": self.connections,
                "orders": [_order_state(o) for o in sorted(self._orders.values(), key=_seq)],
                "trades": [_trade_state(t) for t in self._trades],
                "dead_mans_switch": {
                    key: {
                        "armed": a.dms.armed,
                        "armed_at": None if a.dms.armed_at is None else epoch(a.dms.armed_at),
                        "trigger_time": (
                            None if a.dms.trigger_at is None else epoch(a.dms.trigger_at)
                        ),
                        "arm_count": a.dms.arm_count,
                        "last_timeout": a.dms.last_timeout,
                        "fired_count": a.dms.fired_count,
                    }
                    for key, a in self._accounts.items()
                },
                "counters": {
                    key: {
                        symbol: Decimal(f"{c.value(now):.6f}")
                        for (k, symbol), c in self._counters.items()
                        if k == key
                    }
                    for key in self._accounts
                },
                "reference_prices": dict(self._reference),
                "behaviour": self.behaviour.as_dict(),
                "faults_fired": dict(self.faults.fired),
            }

    def wait_version(self, after: int, timeout: float) -> dict[str, Any]:
        """Long-poll: the state as soon as `version > after`, or at `timeout` regardless."""
        with self.cond:
            self.cond.wait_for(lambda: self.version > after, timeout=timeout)
            return self.state()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Block until `predicate(state())` holds; `TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                state = self.state()
                if predicate(state):
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"simulator state did not match within {timeout} s")
                self.cond.wait_for(_version_moved(self, self.version), timeout=remaining)


def _version_moved(exchange: Exchange, seen: int) -> Callable[[], bool]:
    return lambda: exchange.version != seen


def _seq(order: Order) -> int:
    return order.seq


def _order_state(o: Order) -> dict[str, Any]:
    return {
        "api_key": o.api_key,
        "order_id": o.order_id,
        "cl_ord_id": o.spec.cl_ord_id,
        "order_userref": o.spec.order_userref,
        "symbol": o.spec.symbol,
        "side": o.spec.side,
        "order_type": o.spec.order_type,
        "order_qty": o.spec.order_qty,
        "limit_price": o.spec.limit_price,
        "time_in_force": o.spec.time_in_force,
        "post_only": o.spec.post_only,
        "status": o.status,
        "cum_qty": o.cum_qty,
        "cum_cost": o.cum_cost,
        "avg_price": o.avg_price,
        "fees": o.fees,
        "reason": o.reason,
        "amended": o.amended,
        "created_at": epoch(o.created_at),
        "closed_at": None if o.closed_at is None else epoch(o.closed_at),
        "trade_ids": list(o.trade_ids),
    }


def _trade_state(t: Trade) -> dict[str, Any]:
    return {
        "api_key": t.api_key,
        "exec_id": t.exec_id,
        "trade_id": t.trade_id,
        "order_id": t.order_id,
        "symbol": t.symbol,
        "side": t.side,
        "price": t.price,
        "qty": t.qty,
        "cost": t.cost,
        "fee": t.fee,
        "fee_asset": t.fee_asset,
        "liquidity_ind": t.liquidity_ind,
        "timestamp": epoch(t.timestamp),
    }
