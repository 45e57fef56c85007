"""RateLimiterActor: the shell around `engine.domain.throttle` between orders and the socket.

Theory of operation. The order manager tells `SendRequest`s here instead of to the connection;
each is priced by the pure `Throttle` (per pair, from the ages of the orders it touches) and
forwarded to the connection when the policy says so: at once, after the counter has decayed
(new orders and amends; a `Tick` drives the wait), or coalesced with other cancels of its pair
into one `batch_cancel`. A request that waits past `request_timeout` fails with `NotSent` and
its rows end `not_sent`, exactly as if the connection had never come up.

To learn Kraken's verdicts without slowing the answers down, every forwarded request carries a
small `reply_to` wrapper: it hands each outcome to the original recipient at once, on the
connection's thread, and only tells this actor when Kraken said `EOrder:Rate limit exceeded`
(the pair's counter then snaps to its maximum). A coalesced `batch_cancel` gets its own future;
when it resolves, each caller's future resolves with the batch's response (method
`batch_cancel`, `result.count`), and each original `reply_to` gets the outcome under its own ref.

Under the `unlimited` tier the engine does not start this actor at all (the order manager talks
to the connection directly); if it is started anyway, it passes every request straight through.

The order manager tells through `gate`, not the actor's ref: while the actor is free, a request
is priced, and sent when the counter allows, on the order manager's own thread (a hop to this
actor's thread cost 0.1-0.3 ms of round trip). The actor's state is only ever touched under its
lock; a request that meets the actor busy waits in a backlog, in order, for whoever holds the
lock next. Held cancels still leave from the actor's thread, at its `_Flush`, so that a burst
of them can be coalesced.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

import pykka

from actors.handover import Door
from actors.listeners import EventBus
from actors.messages import (
    Connect,
    RequestAnswered,
    RequestNotSent,
    SendRequest,
    Tick,
)
from actors.supervision import EngineActor, FailureHandler
from engine.domain.clock import Clock
from engine.domain.throttle import (
    Coalesce,
    Decision,
    Expire,
    Queued,
    Send,
    Ticket,
    Warn,
)
from engine.errors import EngineStopped, NotSent
from engine.kraken import ratelimit
from engine.kraken.request_costs import make_throttle
from engine.kraken.venue_errors import ErrorKind, classify_error

__all__ = ["RateLimiterActor"]

log = logging.getLogger("kraken_router.rate_limit")

_NEW = frozenset({"add_order", "batch_add", "amend_order", "edit_order"})
# what Kraken charges per order even for a refused request (§7.9: fixed costs)
_FIXED = {"add_order": 1.0, "batch_add": 0.5, "amend_order": 1.0, "edit_order": 1.0}


@dataclass(frozen=True, slots=True)
class _Flush:
    """Held cancels: the messages that were ahead of this one have been handled."""


@dataclass(frozen=True, slots=True)
class _Backlog:
    """Requests wait in the backlog: the actor sends them on when it runs."""


@dataclass(frozen=True, slots=True)
class _Refused:
    """Kraken refused a request on these pairs for the trading rate counter."""

    symbols: tuple[str, ...]
    fixed: float


class _Watch:
    """Forward every outcome at once; tell the limiter only about rate-limit refusals."""

    __slots__ = ("_fixed", "_inner", "_limiter", "_originals", "_symbols")

    def __init__(
        self,
        limiter: pykka.ActorRef[Any],
        symbols: tuple[str, ...],
        inner: Any = None,
        originals: tuple[SendRequest, ...] = (),
        fixed: float = 0.0,
    ) -> None:
        self._limiter = limiter
        self._symbols = symbols
        self._fixed = fixed
        self._inner = inner
        self._originals = originals

    def tell(self, message: Any) -> None:
        if self._originals:
            for original in self._originals:
                if original.reply_to is not None:
                    original.reply_to.tell(replace(message, ref=original.ref))
        elif self._inner is not None:
            self._inner.tell(message)
        if isinstance(message, RequestAnswered) and self._symbols:
            frames = message.responses or (message.response,)
            if any(
                not f.success and classify_error(f.error or "") is ErrorKind.RATE_LIMITED
                for f in frames
            ):
                self._limiter.tell(_Refused(self._symbols, self._fixed))


class RateLimiterActor(EngineActor):
    def __init__(
        self,
        *,
        tier: str,
        clock: Clock,
        events: EventBus,
        connection: Callable[[], Any],
        request_timeout: float,
        on_failed: FailureHandler | None = None,
    ) -> None:
        super().__init__(on_failed)
        self._tier = ratelimit.tier(tier)
        self._passthrough = tier == "unlimited"
        self._throttle = make_throttle(tier, request_timeout)
        self._clock = clock
        self._events = events
        self._connection = connection
        self._keys = itertools.count(1)
        self._held: dict[int, SendRequest] = {}
        self._flush_told = False
        self._stats = {
            "sent": 0,
            "queued": 0,
            "expired": 0,
            "batch_cancels": 0,
            "coalesced_cancels": 0,
            "forced_cancels": 0,
            "refusals": 0,
            "new_sent_while_cancels_held": 0,
        }
        self._max_wait = 0.0
        self._max_cancel_wait = 0.0
        # see the module docstring: `gate` prices requests on the sender's thread when it can
        self._lock = threading.RLock()
        self._backlog: deque[SendRequest] = deque()
        self._stopped = False
        self.gate = Door(self, self._backlog, self._try_admit_now, _Backlog())

    # -- pykka hooks -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        with self._lock:
            self._drain_backlog()
            self._handle(message)
        return None

    def _handle(self, message: Any) -> None:
        match message:
            case SendRequest():
                self._admit(message)
            case _Backlog():
                pass  # drained above
            case Tick():
                if self._held:
                    self._apply(self._throttle.poll(self._now()))
            case _Flush():
                self._flush_told = False
                self._apply(self._throttle.flush(self._now()))
            case _Refused(symbols=symbols, fixed=fixed):
                now = self._now()
                self._stats["refusals"] += 1
                for symbol in symbols:
                    self._throttle.snap(symbol, now, fixed)
                    log.warning("Kraken refused a request on %s for the rate counter", symbol)
                    self._events.publish(
                        "rate_limit",
                        {"kind": "refused", "symbol": symbol, "threshold": self._tier.threshold},
                    )
            case Connect():
                connection = self._connection()  # not priced: only requests cost points
                if connection is not None:
                    connection.tell(message)
            case _:
                log.warning("rate limiter got an unknown message %r", type(message).__name__)

    def on_stop(self) -> None:
        with self._lock:
            self._stopped = True
            for request in [*self._held.values(), *self._backlog]:
                _stopped_before_sending(request)
            self._held.clear()
            self._backlog.clear()

    def _drain_backlog(self) -> None:
        """Holding the lock: admit what the `gate` (a `Door`) left, in the order it came."""
        while self._backlog:
            request = self._backlog.popleft()
            if self._stopped:
                _stopped_before_sending(request)
            else:
                self._admit(request)

    def _try_admit_now(self) -> bool:
        """On a sender's thread: admit the backlog if the actor is free."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._drain_backlog()
            return True
        finally:
            self._lock.release()

    def _admit(self, request: SendRequest) -> None:
        if self._passthrough:
            self._tell_connection(request)
        else:
            self._offer(request)

    # -- queries (through the proxy) ---------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for operators and tests: what waited, for how long, what was coalesced."""
        with self._lock:
            return {
                **self._stats,
                "tier": self._tier.name,
                "waiting": self._throttle.waiting(),
                "max_wait_s": self._max_wait,
                "max_cancel_wait_s": self._max_cancel_wait,
            }

    def counter(self, symbol: str) -> float:
        with self._lock:
            return self._throttle.value(symbol, self._now())

    # -- policy ------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _offer(self, request: SendRequest) -> None:
        if not request.queued_at:
            request = replace(request, queued_at=self._clock.monotonic())
        key = next(self._keys)
        self._held[key] = request
        ticket = Ticket(key, request.method, request.touches, self._now(), _id_count(request))
        self._apply(self._throttle.offer(ticket, self._now()))

    def _apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            match decision:
                case Send(key=key, waited_s=waited, forced=forced):
                    request = self._held.pop(key)
                    self._note_wait(request, waited)
                    if forced:
                        self._stats["forced_cancels"] += 1
                        log.warning(
                            "a lone %s goes past the rate counter (Kraken may refuse it)",
                            request.method,
                        )
                    if (
                        request.method in _NEW
                        and request.touches
                        and self._throttle.held_cancels(request.touches[0].symbol)
                    ):
                        self._stats["new_sent_while_cancels_held"] += 1
                    self._forward(request)
                case Coalesce(keys=keys, symbol=symbol):
                    self._coalesce([self._held.pop(k) for k in keys], symbol)
                case Queued(symbol=symbol, wait_s=wait, ahead=ahead):
                    self._stats["queued"] += 1
                    self._events.publish(
                        "rate_limit",
                        {
                            "kind": "queued",
                            "symbol": symbol,
                            "method": self._held[decision.key].method,
                            "wait_s": wait,
                            "ahead": ahead,
                        },
                    )
                case Expire(key=key, waited_s=waited):
                    request = self._held.pop(key)
                    self._stats["expired"] += 1
                    reason = f"waited {waited:.1f} s for the rate counter; not sent"
                    _fail(request.future, NotSent(f"{request.method}: {reason}"))
                    if request.reply_to is not None:
                        request.reply_to.tell(RequestNotSent(request.ref, request.method, reason))
                case Warn(symbol=symbol, value=value, threshold=threshold):
                    self._events.publish(
                        "rate_limit",
                        {
                            "kind": "warning",
                            "symbol": symbol,
                            "value": value,
                            "threshold": threshold,
                        },
                    )
        if self._throttle.flush_wanted and not self._flush_told:
            self._flush_told = True
            self.actor_ref.tell(_Flush())

    def _note_wait(self, request: SendRequest, waited: float) -> None:
        self._max_wait = max(self._max_wait, waited)
        if request.method in ("cancel_order", "batch_cancel"):
            self._max_cancel_wait = max(self._max_cancel_wait, waited)

    # -- sending -----------------------------------------------------------------------------

    def _forward(self, request: SendRequest) -> None:
        symbols = tuple(dict.fromkeys(t.symbol for t in request.touches))
        if symbols:
            fixed = _FIXED.get(request.method, 0.0) * len(request.touches)
            watch = _Watch(self.actor_ref, symbols, inner=request.reply_to, fixed=fixed)
            request = replace(request, reply_to=watch)
        self._tell_connection(request)

    def _coalesce(self, originals: list[SendRequest], symbol: str) -> None:
        orders: list[str] = []
        cl_ord_ids: list[str] = []
        for request in originals:
            params = request.params
            orders.extend(params.get("order_id", ()))
            orders.extend(str(u) for u in params.get("order_userref", ()))
            orders.extend(params.get("orders", ()))
            cl_ord_ids.extend(params.get("cl_ord_id", ()))
            self._note_wait(request, self._clock.monotonic() - request.queued_at)
        batch_params: dict[str, Any] = {}
        if orders:
            batch_params["orders"] = orders
        if cl_ord_ids:
            batch_params["cl_ord_id"] = cl_ord_ids
        future: Future[Any] = Future()
        callers = [r.future for r in originals if r.future is not None]
        future.add_done_callback(lambda done: _fan_out(done, callers))
        self._stats["batch_cancels"] += 1
        self._stats["coalesced_cancels"] += len(originals)
        self._events.publish(
            "rate_limit",
            {"kind": "coalesced", "symbol": symbol, "requests": len(originals), "ids": orders},
        )
        symbols = tuple(dict.fromkeys(t.symbol for r in originals for t in r.touches))
        batch = SendRequest(
            "batch_cancel",
            batch_params,
            future,
            ref=(),
            reply_to=_Watch(self.actor_ref, symbols, originals=tuple(originals)),
            urgent=True,
            queued_at=min(r.queued_at for r in originals),
            touches=tuple(t for r in originals for t in r.touches),
        )
        self._tell_connection(batch)

    def _tell_connection(self, request: SendRequest) -> None:
        self._stats["sent"] += 1
        connection = self._connection()
        if connection is None:
            _fail(request.future, NotSent(f"{request.method}: no connection; not sent"))
            return
        connection.tell(request)


def _stopped_before_sending(request: SendRequest) -> None:
    _fail(request.future, EngineStopped(f"{request.method}: engine stopped, not sent"))
    if request.reply_to is not None:
        request.reply_to.tell(RequestNotSent(request.ref, request.method, "stopped"))


def _id_count(request: SendRequest) -> int:
    params = request.params
    return sum(
        len(params.get(name, ()))
        for name in ("order_id", "cl_ord_id", "order_userref", "orders")
        if isinstance(params.get(name, ()), list | tuple)
    )


def _fan_out(done: Future[Any], callers: list[Future[Any]]) -> None:
    error = done.exception()
    for caller in callers:
        if caller.done():
            continue
        if error is not None:
            caller.set_exception(error)
        else:
            caller.set_result(done.result())


def _fail(future: Future[Any] | None, error: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(error)
