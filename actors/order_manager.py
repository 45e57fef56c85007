"""OrderManagerActor: the single writer of order state.

Theory of operation. Every command from the strategy arrives through one intake queue, so that a
burst of submissions becomes one transaction (group commit) while order stays first-in,
first-out. For an order, the row is committed (`pending_submit`) before the request is handed to
the connection: a crash after that point leaves a row that reconciliation settles, never an order
on the exchange that the database does not know. Acknowledgements, executions reports and
reconciliation results are facts: each is applied to the in-memory `Order` through the pure
lifecycle, and the change is written (row update + journal entry + fill) in one transaction
per message, then published to the strategy. A report that does not fit the lifecycle is logged
and changes nothing. Reports for an order id not yet known (an executions report racing its
own acknowledgement) wait in a small buffer until the acknowledgement names the id.
"""

from __future__ import annotations

import contextlib
import logging
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pykka
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from actors.connection import Tellable
from actors.listeners import EventBus
from actors.messages import (
    Connect,
    ConnectionDown,
    ConnectionUp,
    DrainIntake,
    ExecutionsReceived,
    ForwardRequest,
    PlaceOrders,
    ReconcileFailed,
    ReconcileRequested,
    RequestAnswered,
    RequestNotSent,
    RequestUnanswered,
    SendRequest,
    Tick,
    VenueSnapshot,
    VenueStatusChanged,
)
from actors.supervision import EngineActor, FailureHandler
from engine.domain import lifecycle
from engine.domain.clock import Clock
from engine.domain.lifecycle import InvalidTransition, OrderStatus
from engine.domain.order import DuplicateOrder, Order, OrderBook, apply_fill, apply_report
from engine.domain.reconcile import NeverPlacedPolicy, settle_unseen
from engine.domain.reports import FillReport, OrderStatusReport
from engine.domain.throttle import Touch
from engine.errors import EngineFailed, EngineStopped, LocalRejection, NotSent
from engine.kraken.envelope import MethodResponse
from persistence import repository

__all__ = ["FactsInlet", "Intake", "OrderEvent", "OrderManagerActor"]

log = logging.getLogger("kraken_router.orders")

_DRAIN_MAX = 512
# facts (answers, executions reports) per transaction when a backlog has built up: a commit
# writes every B-tree page its transaction dirtied, and with fills spread over many orders
# that is a few pages per fill whatever the transaction's size (100,000 fills over 500 orders,
# the actor driven directly: 16,600 updates/s in transactions of 512, 22,400 in transactions
# of 2,048; 4,096 did no better). Past `_DRAIN_MAX` facts a transaction ends early, at a
# fact's boundary, when an order waits (`_queued_facts`): an order never waits behind more
# facts than before, and under a stream of orders the facts still keep up with them.
_FACTS_MAX = 2048
# how often (in facts) a long facts transaction looks for a waiting order
_FACTS_LOOK = 32
# after an answer, how long the order manager waits by default for its caller's next order
# before it applies facts (see `_yield_to_callers`; `EngineConfig.caller_headstart_s`): 0.2-0.3
# ms did as well as 1 ms in closed-loop A/Bs, and it bounds how much later an answer's row and
# events come when no order follows
_CALLER_HEADSTART_S = 0.0005
_ORPHAN_TTL_S = 30.0
# Terminal orders stay in the book this long after they end (then the database answers for
# them): the book's size is about this times the order rate, so it is kept short.
_TERMINAL_KEPT = timedelta(seconds=1)
_ENDED_KEPT_MAX = 1_000  # ended orders kept in memory at most, whatever the order rate
# While the socket is up, the reconciliation's starting point (`last_sync`) moves along this
# often, to this far behind the clock (see `_advance_sync`)
_SYNC_EVERY = timedelta(seconds=30)
_SYNC_LAG_S = 60.0


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """What the strategy's `order` handlers receive: the change and the order after it."""

    kind: str  # order_<status word>, e.g. order_new, order_filled, order_rejected
    order: Order
    source: str


@dataclass(frozen=True, slots=True)
class DrainFacts:
    """Facts are waiting in the inlet."""


# requests that name existing orders (by order_id, cl_ord_id or, for cancel_order, userref)
_NAMING_METHODS = frozenset({"amend_order", "edit_order", "cancel_order", "batch_cancel"})
_RECENT_COMMITS = 10_000  # commit times kept for the p99 in `stats()`
_SLOW_COMMIT_S = 0.050  # a write transaction longer than this is a stall (issue #4)


def _p99(samples: Iterable[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


class FactsInlet:
    """Where the connection delivers answers and executions for the order manager.

    Facts queue here and the actor is nudged once per burst, so that it can apply a whole burst
    in one transaction. The flag is cleared by the actor before it drains: a fact put after the
    drain started either is seen by that drain or sends a new nudge, so none is left behind.
    """

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.scheduled = False
        self.caller_answered = False  # an answer was queued: its caller is being woken
        self.fill_queued = False  # a fill was queued: its events must not wait
        self._ref = ref

    def tell(self, message: Any) -> None:
        if isinstance(
            message, RequestAnswered | RequestUnanswered | RequestNotSent | ExecutionsReceived
        ):
            self.queue.put(message)
            if type(message) is RequestAnswered:
                self.caller_answered = True
            elif type(message) is ExecutionsReceived and message.message.fills:
                self.fill_queued = True
            if not self.scheduled:
                self.scheduled = True
                with contextlib.suppress(pykka.ActorDeadError):  # stopped: engine shutting down
                    self._ref.tell(DrainFacts())
        else:
            with contextlib.suppress(pykka.ActorDeadError):
                self._ref.tell(message)


class Intake(queue.SimpleQueue[PlaceOrders | ForwardRequest]):
    """Where callers leave commands for the order manager, which is nudged once per burst.

    A `DrainIntake` per command cost every caller a put into the actor's mailbox (a lock and
    a wake-up) and the actor a message, and under load nearly all of them found the intake
    already drained. The flag is cleared by the actor before it drains, so a command put
    after that either is seen by the drain or sends a new nudge: none is left behind.
    """

    def __init__(self) -> None:
        super().__init__()
        self.nudged = False

    def submit(self, command: PlaceOrders | ForwardRequest, ref: pykka.ActorRef[Any]) -> None:
        """Raises `pykka.ActorDeadError` when the actor is gone (the command stays unread)."""
        self.put(command)
        if not self.nudged:
            self.nudged = True
            ref.tell(DrainIntake())

    def take_all(self) -> list[PlaceOrders | ForwardRequest]:
        """Every command still waiting, taken out (each by one taker only)."""
        commands: list[PlaceOrders | ForwardRequest] = []
        while True:
            try:
                commands.append(self.get_nowait())
            except queue.Empty:
                return commands

    def fail_all(self, error: Callable[[str], BaseException]) -> None:
        """Fail every command still waiting (none was written or sent): `error(method)`."""
        for command in self.take_all():
            if not command.future.done():
                command.future.set_exception(error(command.method))


@dataclass(frozen=True, slots=True)
class _Names:
    """A forwarded request's `ref` (amend, cancel): the rows of the orders it names, so that
    its journal entries, the request's and its answer's, are in those orders' timelines.

    A placement's `ref` is a plain tuple of the rows it creates, which its outcome moves
    (acknowledged, rejected, not sent); the orders a cancel names are moved only by what
    Kraken reports of them, so the two must not be mistaken for each other.
    """

    pks: tuple[int, ...]


def _placed(ref: Any) -> tuple[int, ...]:
    """The rows a request places (empty for a forwarded request)."""
    return ref if isinstance(ref, tuple) else ()


def _named(ref: Any) -> tuple[int | None, ...]:
    """The rows a forwarded request's journal entries go to: (None,) when it names none."""
    return ref.pks if isinstance(ref, _Names) and ref.pks else (None,)


@dataclass(slots=True)
class _Orphan:
    first_seen: float
    reports: list[OrderStatusReport] = field(default_factory=list)
    fills: list[FillReport] = field(default_factory=list)


class OrderManagerActor(EngineActor):
    def __init__(
        self,
        *,
        account: str,
        sessions: sessionmaker[Session],
        clock: Clock,
        events: EventBus,
        intake: Intake,
        connection: Callable[[], Tellable | None],
        reconciler: Callable[[], pykka.ActorRef[Any] | None] = lambda: None,
        run_id: int | None,
        request_timeout: float = 10.0,
        order_deadline: float | None = None,
        rest_lag_s: float = 10.0,
        amend_rules: Callable[[str, Mapping[str, Any]], None] | None = None,
        max_open_per_pair: int | None = None,
        caller_headstart_s: float = _CALLER_HEADSTART_S,
        max_orders_per_commit: int = _DRAIN_MAX,
        sync_lag_s: float = _SYNC_LAG_S,
        on_failed: FailureHandler | None = None,
    ) -> None:
        super().__init__(on_failed)
        self._sync_lag = timedelta(seconds=sync_lag_s)
        self._synced_at: datetime | None = None  # when `last_sync` was last moved along
        self._caller_headstart_s = caller_headstart_s
        # commands (orders, cancels...) one intent transaction takes at most; 1 commits each
        # alone (`EngineConfig.max_orders_per_commit`)
        self._max_orders_per_commit = max(1, min(max_orders_per_commit, _DRAIN_MAX))
        # the account tier's cap on open orders per pair (Kraken: EOrder:Orders limit exceeded)
        self._max_open_per_pair = max_open_per_pair
        self._reconciler = reconciler
        # the pair's rules for an amend (raises LocalRejection): only the book knows its pair
        self._amend_rules = amend_rules
        self._request_timeout = request_timeout
        self._policy = NeverPlacedPolicy(request_timeout, order_deadline or 0.0, rest_lag_s)
        # order entry waits while the engine's view may be stale: from a disconnect (or a
        # start with orders that were not terminal) until reconciliation has been applied
        self._gate_closed = False
        self._deferred: deque[tuple[float, PlaceOrders]] = deque()
        self._reconcile_running = False
        self._reconcile_again: str | None = None
        self._recheck_at: datetime | None = None
        self._connected_once = False
        self._has_history = False
        self.inlet = FactsInlet(self.actor_ref)
        # one long-lived session on the actor's own thread: a new one per message costs more
        # than the SQLite commit itself
        self._session: Session | None = None
        self._writer: Connection | None = None
        self._uow_events: list[dict[str, Any]] = []
        # each order touched: its snapshot before the transaction, the newest one, and when;
        # its row is written once, at the end
        self._uow_orders: dict[int, tuple[Order, Order, datetime]] = {}
        self._uow_summaries: repository.SummaryDeltas = {}
        self._commits = 0
        self._commit_seconds = 0.0
        self._max_commit_seconds = 0.0
        self._slow_commits = 0
        self._recent_commits: deque[float] = deque(maxlen=_RECENT_COMMITS)
        self._account = account
        self._sessions = sessions
        self._clock = clock
        self._events = events
        self._intake = intake
        self._connection = connection
        self._run_id = run_id
        self._book = OrderBook()
        self._orphans: dict[str, _Orphan] = {}
        self._amended_at: dict[int, datetime] = {}  # last amend sent, for the rate limiter
        # Kraken order ids with fills recorded before any order row had the id (see
        # `_claim_unlinked`); loaded at start, so a restart does not forget them
        self._unlinked_fills: set[str] = set()

    # -- pykka hooks -------------------------------------------------------------------------

    def on_start(self) -> None:
        with self._sessions() as session:
            for row in repository.live_orders(session, self._account):
                self._book.add(_order_from_row(row))
            self._has_history = repository.get_kv(session, self._account, "last_sync") is not None
            self._unlinked_fills = repository.unlinked_fill_order_ids(session, self._account)
        if self._book.live():
            # crash recovery: these are settled by reconciliation before new orders go out
            log.info("loaded %d live orders from the database", len(self._book.live()))
            self._has_history = True
            self._gate_closed = True

    def on_stop(self) -> None:
        # commands still waiting were never written nor sent: their callers must not hang
        waiting = self._intake.take_all()
        waiting.extend(command for _, command in self._deferred)
        self._deferred.clear()
        self._fail_unsent(waiting, set())
        if self._session is not None:
            self._session.close()
        if self._writer is not None:
            self._writer.close()

    def _writer_session(self) -> Session:
        """The writer keeps one connection for its life: a session on the engine checks a
        connection out of the pool and resets it (a rollback) around every transaction, which
        on SQLite costs about as much as the commit itself."""
        bind = self._sessions.kw.get("bind")
        if not isinstance(bind, Engine):
            return self._sessions()
        self._writer = bind.connect()
        return Session(bind=self._writer, expire_on_commit=False)

    def on_receive(self, message: Any) -> Any:
        match message:
            case DrainIntake():
                self._intake.nudged = False
                self._drain()
            case DrainFacts():
                self._yield_to_callers()
                self._drain_facts()
            case RequestAnswered() | RequestUnanswered() | RequestNotSent() | ExecutionsReceived():
                self._apply_facts([message])
            case Tick():
                self._sweep_orphans()
                self._on_tick()
                self._advance_sync()
            case ConnectionUp(reconnect=reconnect):
                first = not self._connected_once
                self._connected_once = True
                if reconnect or (first and self._has_history):
                    self._request_reconcile("reconnect" if reconnect else "start")
                else:
                    self._open_gate()
            case ConnectionDown():
                self._gate_closed = True
            case VenueSnapshot():
                self._on_snapshot(message)
            case ReconcileFailed(reason=reason, error=error, started_at=started_at):
                self._reconcile_running = False
                retry_after = message.retry_after_s
                log.warning(
                    "reconciliation (%s) failed: %s; retrying in %.0f s", reason, error, retry_after
                )
                now = self._clock.now()
                self._recheck_at = now + timedelta(seconds=retry_after)
                with self._transaction() as session:
                    # an operator asking why order entry was held finds each failed attempt
                    run_pk = repository.start_reconciliation(
                        session,
                        account=self._account,
                        run_id=self._run_id,
                        at=started_at or now,
                        reason=reason,
                    )
                    repository.finish_reconciliation(
                        session, run_pk, at=now, outcome="failed", summary={"error": error}
                    )
            case VenueStatusChanged():
                pass
            case _:
                log.warning("order manager got an unknown message %r", type(message).__name__)
        return None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One short write transaction, timed: a commit that stalls shows in `stats()`."""
        started = self._clock.monotonic()
        self._uow_events = []
        self._uow_orders = {}
        self._uow_summaries = {}
        session = self._session
        if session is None:
            session = self._session = self._writer_session()
        writer = self._writer
        if writer is None:
            with session.begin():
                yield session
                self._write_unit_of_work(session)
        else:
            # the transaction is the writer connection's, not the session's: a Session's begin
            # and commit cost twice SQLite's own commit of an order. The session joins it for
            # whatever goes through the ORM, and the repository's SQLite statements run on the
            # driver's connection (bound to the session for the transaction).
            with writer.begin():
                repository.bind_driver_connection(session, writer)
                try:
                    yield session
                    self._write_unit_of_work(session)
                    if session.in_transaction():
                        session.commit()  # flushes ORM work; the writer's commit is below
                except BaseException:
                    session.close()  # its objects go; the writer's transaction rolls back
                    raise
                finally:
                    repository.unbind_driver_connection(session)
        elapsed = self._clock.monotonic() - started
        self._commits += 1
        self._commit_seconds += elapsed
        self._max_commit_seconds = max(self._max_commit_seconds, elapsed)
        self._recent_commits.append(elapsed)
        if elapsed > _SLOW_COMMIT_S:
            self._slow_commits += 1

    def _write_unit_of_work(self, session: Session) -> None:
        # one executemany each, however many facts the transaction applied
        for updates in _row_updates(self._uow_orders.values()).values():
            repository.update_orders(session, updates)
        repository.append_events(session, self._uow_events)
        repository.add_to_summaries(session, self._uow_summaries)

    # -- queries (through the proxy) ---------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Write-path figures for operators and tests: commits, mean and worst commit time."""
        return {
            "commits": self._commits,
            "mean_commit_ms": 1000 * self._commit_seconds / self._commits if self._commits else 0.0,
            "max_commit_ms": 1000 * self._max_commit_seconds,
            "p99_commit_ms": 1000 * _p99(self._recent_commits),
            "commits_over_50ms": self._slow_commits,
            "live_orders": len(self._book.live()),
            "orders_in_memory": len(self._book),  # live plus recently ended
            "orphans": len(self._orphans),
            "deferred": len(self._deferred),
        }

    def write(self, work: Callable[[Session], Any]) -> Any:
        """Another part of the engine's write (heartbeat, switch state, caches), run in a
        transaction of this actor's. One writer per process: a second one makes SQLite's busy
        handler put this actor's commit to sleep in steps of up to 100 ms whenever they meet."""
        with self._transaction() as session:
            return work(session)

    def get_order(self, key: str) -> Order | None:
        order = self._book.get_by_cl_ord_id(key) or self._book.get_by_order_id(key)
        if order is not None:
            return order
        # terminal orders leave the book after a while; the database still has them
        with self._sessions() as session:
            row = repository.find_order(
                session, self._account, order_id=key
            ) or repository.find_order(session, self._account, cl_ord_id=key)
        return _order_from_row(row) if row is not None else None

    def open_orders(self) -> list[Order]:
        return list(self._book.live())

    # -- commands ----------------------------------------------------------------------------

    def _yield_to_callers(self) -> None:
        """After an answer, let its caller run first: wait (bounded) for the next order.

        The answer resolves a caller's future on the reader's thread, and its facts nudge this
        actor at the same moment. Applying them at once (a transaction of a few hundred
        microseconds of Python) holds the GIL while the caller's thread wakes, and in a closed
        loop the caller's next order then waits for a commit it does not need. Blocked on the
        intake instead, this thread gives up the GIL; the next order, if it comes, is
        committed and sent first, and the facts are applied while it is on the wire. The
        price: when no order follows, the answer's facts and the events they publish come up
        to `caller_headstart_s` later. Not when a fill is among them: a strategy hedging on
        its `execution` event waits for nothing.
        """
        inlet = self.inlet
        answered, filled = inlet.caller_answered, inlet.fill_queued
        inlet.caller_answered = inlet.fill_queued = False
        if (
            not answered
            or filled
            or self._gate_closed
            or self._intake.qsize()
            or self._caller_headstart_s <= 0
        ):
            return
        try:
            first = self._intake.get(timeout=self._caller_headstart_s)
        except queue.Empty:
            return
        self._drain(first)

    def _drain(self, first: PlaceOrders | ForwardRequest | None = None) -> None:
        commands: list[PlaceOrders | ForwardRequest] = [] if first is None else [first]
        while len(commands) < self._max_orders_per_commit:
            try:
                commands.append(self._intake.get_nowait())
            except queue.Empty:
                break
        handed: set[int] = set()  # the futures of requests given to the connection
        with self._failing_unsent(commands, handed):
            self._take(commands, handed)

    @contextlib.contextmanager
    def _failing_unsent(
        self, commands: list[PlaceOrders | ForwardRequest], handed: set[int]
    ) -> Iterator[None]:
        """On an exception nobody expected (the actor stops, see actors.supervision): these
        commands are out of the intake, and a caller whose request was not handed over to the
        connection would otherwise wait for nothing. The engine is told first."""
        try:
            yield
        except Exception as exc:
            self.report_failure(exc)
            self._fail_unsent(commands, handed)
            raise

    def _take(self, commands: list[PlaceOrders | ForwardRequest], handed: set[int]) -> None:
        if self._gate_closed:
            waiting = self._clock.monotonic()
            passing: list[PlaceOrders | ForwardRequest] = []
            for command in commands:
                if isinstance(command, PlaceOrders):
                    self._deferred.append((waiting, command))
                else:
                    passing.append(command)  # cancels never wait for reconciliation
            commands = passing
            connection = self._connection()
            if self._deferred and not self._connected_once and connection is not None:
                # a start with live orders holds orders until the first connection's
                # reconciliation: nothing else may have asked the (lazy) connection to connect
                connection.tell(Connect())
        if not commands:
            return
        if self.inlet.queue.qsize() and any(self._needs_answers(c) for c in commands):
            # a cancel, amend or edit names orders by the ids their answers brought: answers
            # queued before it (the connection queues them before resolving the caller's
            # future) are applied first, so the book knows those orders. An edit whose
            # original is unknown writes no intent for its replacement, whose reports would
            # then be recorded as another client's order; an order known only by its userref,
            # or a cl_ord_id used again, would be refused while an answered order that holds
            # it looks in flight.
            self._drain_facts(intake_first=False)
        self._process(commands, handed)
        if self._intake.qsize():
            self._intake.nudged = True
            self.actor_ref.tell(DrainIntake())

    def _needs_answers(self, command: PlaceOrders | ForwardRequest) -> bool:
        """The command depends on what earlier answers taught the book: it names an order by
        id (cancel, amend, edit), or it gives a new order a key that an order in flight may
        hold until its answer is applied (a userref without cl_ord_id, or a cl_ord_id again)."""
        if isinstance(command, ForwardRequest) or command.method == "edit_order":
            return True
        params = command.params
        book = self._book
        for row in (params.get("orders") or ()) if command.method == "batch_add" else (params,):
            cl_ord_id = row.get("cl_ord_id")
            if cl_ord_id:
                holder = book.get_by_cl_ord_id(cl_ord_id)
                if holder is not None and holder.order_id is None:
                    return True
            elif row.get("order_userref") is not None:
                return True
        return False

    def _process(
        self, commands: list[PlaceOrders | ForwardRequest], handed: set[int] | None = None
    ) -> None:
        handed = set() if handed is None else handed
        with self._failing_unsent(commands, handed):  # for `_open_gate`'s too
            self._place(commands, handed)

    def _fail_unsent(
        self, commands: Iterable[PlaceOrders | ForwardRequest], handed: set[int]
    ) -> None:
        failure = self.failure
        for command in commands:
            future = command.future
            if id(future) in handed or future.done():
                continue
            if failure is None:
                error: EngineStopped = EngineStopped(
                    f"{command.method}: engine stopped before sending"
                )
            else:
                error = EngineFailed(
                    f"{command.method}: the order manager failed before sending "
                    f"({type(failure).__name__}: {failure}); nothing was sent"
                )
            future.set_exception(error)

    def _place(self, commands: list[PlaceOrders | ForwardRequest], handed: set[int]) -> None:
        now = self._clock.now()
        outgoing: list[SendRequest] = []
        with self._transaction() as session:
            for command in commands:
                if isinstance(command, PlaceOrders):
                    request = self._record_placement(session, command, now)
                else:
                    request = self._record_forward(session, command, now)
                if request is not None:
                    outgoing.append(request)
        connection = self._connection()
        published: list[OrderEvent] = []
        unsent: list[Any] = []
        for request in outgoing:
            for pk in _placed(request.ref):
                order = self._book.get_by_pk(pk)
                if order is not None and order.status is OrderStatus.PENDING_SUBMIT:
                    sent = lifecycle.apply(order, lifecycle.Sent(), now=now)
                    self._book.replace(sent)
                    published.append(OrderEvent("order_submitted", sent, "request"))
        # in one hand-over where the connection takes several (its frames then leave in one
        # write); one by one otherwise
        tell_many = getattr(connection, "tell_many", None)
        batches = [outgoing] if tell_many is not None and outgoing else [[r] for r in outgoing]
        for batch in batches:
            try:
                if connection is None:
                    raise pykka.ActorDeadError("no connection")
                if tell_many is not None:
                    tell_many(batch)
                else:
                    connection.tell(batch[0])
                handed.update(id(r.future) for r in batch if r.future is not None)
            except pykka.ActorDeadError:
                # the engine is stopping and the socket's actor is gone: nothing was sent
                for request in batch:
                    unsent.append(RequestNotSent(request.ref, request.method, "engine stopped"))
                    if request.future is not None and not request.future.done():
                        request.future.set_exception(
                            EngineStopped(f"{request.method}: engine stopped before sending")
                        )
        self._publish(published)
        if unsent:
            self._apply_facts(unsent)

    def _record_placement(
        self, session: Session, command: PlaceOrders, now: datetime
    ) -> SendRequest | None:
        params = command.params
        if params.get("validate"):
            self._journal(
                session,
                order_pk=None,
                at=now,
                source="request",
                kind=f"validate:{command.method}",
                raw={"method": command.method, "params": params},
            )
            return SendRequest(
                command.method,
                params,
                command.future,
                ref=(),
                reply_to=self.inlet,
                touches=self._touches(command.method, params),
            )
        if command.method == "batch_add":
            rows = [{**o, "symbol": params["symbol"]} for o in params["orders"]]
        elif command.method == "edit_order":
            rows = []
        else:
            rows = [params]
        named: set[Any] = set()  # the keys of the batch's earlier rows
        for row in rows:
            refusal = self._cl_ord_id_clash(row, named) or self._userref_clash(row, named)
            if refusal is not None:
                command.future.set_exception(refusal)
                return None
        refusal = self._over_open_cap(rows)
        if refusal is not None:
            command.future.set_exception(refusal)
            return None
        pks: list[int] = []
        for row in rows:
            pks.append(self._insert_intent(session, command.method, row, now))
        if command.method == "edit_order":
            original = self._book.get_by_order_id(params["order_id"])
            if original is None:
                found = repository.find_order(session, self._account, order_id=params["order_id"])
                original = _order_from_row(found) if found is not None else None
            if original is not None:
                replacement = {
                    "symbol": params["symbol"],
                    "side": original.side,
                    "order_type": original.order_type,
                    "order_qty": params.get("order_qty", original.remaining_qty),
                    "limit_price": params.get("limit_price", original.limit_price),
                    "order_userref": params.get("order_userref"),
                }
                refusal = self._userref_clash(replacement, set())
                if refusal is not None:
                    command.future.set_exception(refusal)
                    return None
                # the original's timeline shows the edit that replaced it (the replacement's
                # row, linked by replaces_id, has the intent and the answer)
                self._journal(
                    session,
                    order_pk=original.pk,
                    at=now,
                    source="request",
                    kind="edit_order",
                    raw={"method": command.method, "params": params},
                )
                pks.append(
                    self._insert_intent(
                        session,
                        "edit_order",
                        replacement,
                        now,
                        replaces_id=original.pk,
                        sent=params,
                    )
                )
        return SendRequest(
            command.method,
            params,
            command.future,
            ref=tuple(pks),
            reply_to=self.inlet,
            touches=self._touches(command.method, params),
        )

    def _insert_intent(
        self,
        session: Session,
        method: str,
        row: dict[str, Any],
        now: datetime,
        *,
        replaces_id: int | None = None,
        sent: dict[str, Any] | None = None,
    ) -> int:
        # a market buy sized by cash_order_qty has no quantity in the base currency yet
        qty = Decimal(row.get("order_qty") or 0)
        pk = repository.insert_order(
            session,
            account=self._account,
            symbol=row["symbol"],
            side=row["side"],
            order_type=row["order_type"],
            order_qty=qty,
            limit_price=row.get("limit_price"),
            params=sent if sent is not None else row,
            status=OrderStatus.PENDING_SUBMIT.value,
            created_at=now,
            cl_ord_id=row.get("cl_ord_id"),
            order_userref=row.get("order_userref"),
            replaces_id=replaces_id,
            engine_run_id=self._run_id,
        )
        self._journal(
            session,
            order_pk=pk,
            at=now,
            source="request",
            kind="intent",
            status_after=OrderStatus.PENDING_SUBMIT.value,
            raw={"method": method, "params": sent if sent is not None else row},
        )
        self._book.add(
            Order(
                pk=pk,
                account=self._account,
                cl_ord_id=row.get("cl_ord_id"),
                order_userref=row.get("order_userref"),
                order_id=None,
                symbol=row["symbol"],
                side=row["side"],
                order_type=row["order_type"],
                order_qty=qty,
                limit_price=row.get("limit_price"),
                status=OrderStatus.PENDING_SUBMIT,
                created_at=now,
                updated_at=now,
            )
        )
        return pk

    def _named_orders(self, method: str, params: dict[str, Any]) -> list[Order]:
        """The orders an amend, edit or cancel names that the book or the database knows (one
        order named twice, by its two ids, is listed twice)."""
        if method not in _NAMING_METHODS:
            return []
        orders: list[Order] = []
        for name in ("order_id", "cl_ord_id", "orders"):
            keys = params.get(name) or ()
            for key in [keys] if isinstance(keys, str) else keys:
                order = self.get_order(str(key))
                if order is not None:
                    orders.append(order)
        if method == "cancel_order":  # a list of userrefs names orders; an edit's is its new one
            for userref in params.get("order_userref") or ():
                orders.extend(o for o in self._book.live() if o.order_userref == userref)
        return orders

    def _touches(
        self, method: str, params: dict[str, Any], named: list[Order] | None = None
    ) -> tuple[Touch, ...]:
        """The pair and age reference of every order a request concerns, for the rate limiter
        (`named`: `_named_orders`, when the caller has them already).

        An order's reference is when Kraken acknowledged it or we last amended it (never
        earlier than Kraken's own): a younger order costs more, so the guess errs on the safe
        side. Orders the book does not know price as brand new.
        """
        if method == "add_order":
            return (Touch(params["symbol"]),)
        if method == "batch_add":
            return tuple(Touch(params["symbol"]) for _ in params["orders"])
        if method not in _NAMING_METHODS:
            return ()
        orders = self._named_orders(method, params) if named is None else named
        now = self._clock.now()
        touches = []
        for order in orders:
            at = order.acknowledged_at
            amended = self._amended_at.get(order.pk or 0)
            if amended is not None and (at is None or amended > at):
                at = amended
            touches.append(Touch(order.symbol, at.timestamp() if at is not None else None))
            if method == "amend_order" and order.pk is not None:
                self._amended_at[order.pk] = now
        return tuple(touches)

    def _cl_ord_id_clash(self, row: dict[str, Any], named: set[Any]) -> LocalRejection | None:
        """A cl_ord_id held by an order Kraken has not acknowledged yet, or by an earlier row
        of the same batch (`named` collects them): until Kraken names the first order by its
        id, its reports, an unknown outcome's reconciliation included, find it by its cl_ord_id
        alone, and two orders with one could not be told apart. Typically a resend after
        `OutcomeUnknown`, while the first order may be working. An acknowledged holder does
        not count: it may have closed on Kraken already, and if it is still open there Kraken
        refuses the new order itself (`EOrder:Duplicate cl_ord_id`)."""
        cl_ord_id = row.get("cl_ord_id")
        if not cl_ord_id:
            return None
        if cl_ord_id in named:
            return LocalRejection("cl_ord_id", f"{cl_ord_id!r} is given to two orders of the batch")
        named.add(cl_ord_id)
        holder = self._book.get_by_cl_ord_id(cl_ord_id)
        if holder is None or not holder.is_live or holder.order_id is not None:
            return None
        return LocalRejection(
            "cl_ord_id",
            f"{cl_ord_id!r} belongs to an order Kraken has not acknowledged yet "
            f"({holder.status.value}; an unknown outcome is settled by reconciliation): "
            "send it again only once that order has ended",
        )

    def _userref_clash(self, row: dict[str, Any], named: set[Any]) -> LocalRejection | None:
        """An order_userref (with no cl_ord_id) that an unacknowledged order on the pair holds,
        or an earlier row of the same batch (`named`): it is then the only key Kraken echoes
        for both, and they could not be told apart (contract: one such order in flight)."""
        userref = row.get("order_userref")
        if userref is None or row.get("cl_ord_id"):
            return None
        symbol = row["symbol"]
        if (userref, symbol) in named:
            return LocalRejection(
                "order_userref",
                f"two orders of the batch have order_userref {userref} and no cl_ord_id; "
                "Kraken could not tell them apart (give each a cl_ord_id)",
            )
        named.add((userref, symbol))
        holder = self._book.get_by_userref(userref, symbol)
        if holder is not None and holder.is_live and holder.order_id is None:
            return LocalRejection(
                "order_userref",
                f"an order with order_userref {userref} on {symbol} is still in flight; "
                "Kraken could not tell the two apart (use cl_ord_id)",
            )
        return None

    def _over_open_cap(self, rows: list[dict[str, Any]]) -> LocalRejection | None:
        """Refuse orders that would take a pair past the tier's open-orders cap: Kraken would
        answer after a round trip and a rate-counter point. Only orders Kraken shows resting
        count; those in flight may fill at once (a burst of market orders never rests), and
        a local refusal must never be stricter than Kraken."""
        cap = self._max_open_per_pair
        if cap is None or not rows or self._book.live_count() + len(rows) <= cap:
            return None
        wanted: dict[str, int] = {}
        for row in rows:
            wanted[row["symbol"]] = wanted.get(row["symbol"], 0) + 1
        for symbol, count in wanted.items():
            open_now = self._book.resting_on(symbol)
            if open_now + count > cap:
                return LocalRejection(
                    "symbol",
                    f"{open_now} orders are open on {symbol} and the account's tier allows "
                    f"{cap} per pair (Kraken would answer EOrder:Orders limit exceeded)",
                )
        return None

    def _record_forward(
        self, session: Session, command: ForwardRequest, now: datetime
    ) -> SendRequest | None:
        named = self._named_orders(command.method, command.params)
        if command.method == "amend_order" and named and self._amend_rules:
            try:
                self._amend_rules(named[0].symbol, command.params)
            except LocalRejection as exc:
                # refused before anything is written or sent: the order stays as it is
                if not command.future.done():
                    command.future.set_exception(exc)
                return None
        names = _Names(tuple(dict.fromkeys(o.pk for o in named if o.pk is not None)))
        self._journal_named(
            session,
            names,
            at=now,
            source="request",
            kind=command.method,
            raw={"method": command.method, "params": command.params},
        )
        return SendRequest(
            command.method,
            command.params,
            command.future,
            ref=names,
            reply_to=self.inlet,
            urgent=command.urgent,
            expected_frames=command.expected_frames,
            touches=self._touches(command.method, command.params, named),
        )

    # -- facts: answers and executions, applied in groups -----------------------------------

    def _drain_facts(self, intake_first: bool = True) -> None:
        self.inlet.scheduled = False
        facts = self.inlet.queue
        while True:
            if intake_first and self._order_waits():
                # new orders first, between rounds too: their callers wait on the wire, facts
                # only on the disk (in a closed loop the next order arrives while the last
                # one's answer and reports are being applied)
                self._drain()
            # a round applies every fact queued when it starts, in transactions of at most
            # _DRAIN_MAX: under load the facts (three or four per order) never fall behind
            # the orders that make them
            left = facts.qsize()
            if not left:
                return
            while left > 0:
                applied = self._apply_facts(self._queued_facts(left, intake_first))
                if not applied:
                    break
                left -= applied
                if left > 0 and intake_first and self._order_waits():
                    # the orders that came meanwhile, then the rest of the round: a round
                    # applies every fact queued when it began, or under a stream of orders
                    # (three or four facts each) the facts would fall behind
                    self._drain()

    def _order_waits(self) -> bool:
        return not self._gate_closed and self._intake.qsize() > 0

    def _queued_facts(self, left: int, intake_first: bool) -> Iterator[Any]:
        """The facts of one transaction: at most `left` (those queued when the round began) and
        `_FACTS_MAX`, taken one at a time so that past `_DRAIN_MAX` the transaction can end at
        a fact's boundary when a new order arrives: its caller waits on the wire, the facts
        only on the disk.
        """
        facts = self.inlet.queue
        for taken in range(min(left, _FACTS_MAX)):
            if (
                intake_first
                and taken >= _DRAIN_MAX
                and taken % _FACTS_LOOK == 0
                and self._order_waits()
            ):
                return
            try:
                yield facts.get_nowait()
            except queue.Empty:
                return

    def _apply_facts(self, facts: Iterable[Any]) -> int:
        """Apply answers and reports in one transaction: under load they arrive in bursts, and
        one commit per burst instead of per frame is what keeps the order manager ahead."""
        now = self._clock.now()
        published: list[OrderEvent] = []
        reports: list[OrderStatusReport] = []
        missed = False
        applied = 0
        with self._transaction() as session:
            for fact in facts:
                applied += 1
                match fact:
                    case RequestAnswered():
                        self._answered(session, fact, now, published)
                    case RequestUnanswered():
                        self._unanswered(session, fact, now)
                    case RequestNotSent():
                        self._not_sent(session, fact, now, published)
                    case ExecutionsReceived(message=message, gap=gap):
                        self._executions(session, message.reports, message.fills, now, published)
                        reports.extend(message.reports)
                        missed = missed or gap
                    case _:
                        self.actor_ref.tell(fact)  # not a fact: handle it the ordinary way
        # between transactions only: mid-transaction, a forgotten order's row would be read
        # back without the updates this transaction has not written yet
        self._book.forget_ended(keep_at_most=_ENDED_KEPT_MAX)
        self._publish(published)
        for report in reports:
            self._events.publish("execution", report)
        if missed:
            self._request_reconcile("executions sequence gap")
        return applied

    # -- answers -----------------------------------------------------------------------------

    def _answered(
        self, session: Session, answer: RequestAnswered, now: datetime, published: list[OrderEvent]
    ) -> None:
        pks = _placed(answer.ref)
        response = answer.response
        if answer.method in ("add_order", "edit_order") and pks:
            pk = pks[-1]
            order_id = _result_attr(response, "order_id")
            holder = self._book.get_by_order_id(order_id) if order_id else None
            if holder is not None and holder.pk != pk:
                # another row has this id already (a late answer for an order recorded
                # meanwhile): two rows may not share it, and the first one keeps it
                log.warning(
                    "answer names %s, already order %s's; order %s left as it is",
                    order_id,
                    holder.pk,
                    pk,
                )
                self._journal(
                    session,
                    order_pk=pk,
                    at=now,
                    source="acknowledgement",
                    kind="ack:late",
                    raw=response.to_dict(),
                    req_id=answer.req_id,
                )
            elif response.success and order_id:
                self._transition(
                    session,
                    pk,
                    lifecycle.Acknowledged(order_id),
                    now,
                    "acknowledgement",
                    "ack",
                    response.to_dict(),
                    answer.req_id,
                    published,
                )
            elif not response.success:
                for each in pks if answer.method == "add_order" else pks[-1:]:
                    self._transition(
                        session,
                        each,
                        lifecycle.Rejected(response.error or ""),
                        now,
                        "acknowledgement",
                        "reject",
                        response.to_dict(),
                        answer.req_id,
                        published,
                    )
        elif answer.method == "batch_add" and pks:
            self._on_batch_answer(session, pks, answer, now, published)
        else:
            self._journal_named(
                session,
                answer.ref,
                at=now,
                source="acknowledgement",
                kind=answer.method if response.success else f"{answer.method}:refused",
                raw={"responses": [r.to_dict() for r in answer.responses or (response,)]},
                req_id=answer.req_id,
            )

    def _on_batch_answer(
        self,
        session: Session,
        pks: tuple[int, ...],
        answer: RequestAnswered,
        now: datetime,
        published: list[OrderEvent],
    ) -> None:
        response = answer.response
        entries = list(response.result or []) if isinstance(response.result, (list, tuple)) else []
        by_cl_ord_id = {e.cl_ord_id: e for e in entries if getattr(e, "cl_ord_id", None)}
        for index, pk in enumerate(pks):
            order = self._book.get_by_pk(pk)
            entry = None
            if order is not None and order.cl_ord_id:
                entry = by_cl_ord_id.get(order.cl_ord_id)
            if entry is None and index < len(entries):
                entry = entries[index]
            raw = {"response": response.to_dict(), "row": index}
            if entry is not None and entry.order_id and not entry.error:
                trigger: lifecycle.Trigger = lifecycle.Acknowledged(entry.order_id)
                kind = "ack"
            else:
                error = (entry.error if entry is not None else None) or response.error or "refused"
                trigger = lifecycle.Rejected(error)
                kind = "reject"
            self._transition(
                session, pk, trigger, now, "acknowledgement", kind, raw, answer.req_id, published
            )

    def _unanswered(self, session: Session, message: RequestUnanswered, now: datetime) -> None:
        placed = _placed(message.ref)
        for pk in placed:
            order = self._book.get_by_pk(pk)
            if order is None:
                continue
            self._write(
                session,
                order,
                order,
                now,
                "acknowledgement",
                "unknown",
                {"reason": message.reason},
                message.req_id,
            )
            if order.status in lifecycle.IN_FLIGHT:
                # nothing else would ever settle it while the socket stays up: reconcile once
                # "never placed" can be concluded (sooner if it turns up on either channel)
                horizon = self._policy.after(order)
                if self._recheck_at is None or horizon < self._recheck_at:
                    self._recheck_at = horizon
        if not placed:
            self._journal_named(
                session,
                message.ref,
                at=now,
                source="acknowledgement",
                kind=f"{message.method}:unknown",
                raw={"reason": message.reason},
                req_id=message.req_id,
            )

    def _not_sent(
        self, session: Session, message: RequestNotSent, now: datetime, published: list[OrderEvent]
    ) -> None:
        for pk in _placed(message.ref):
            self._transition(
                session,
                pk,
                lifecycle.NeverSent(),
                now,
                "request",
                "not_sent",
                {"reason": message.reason},
                None,
                published,
            )

    # -- executions --------------------------------------------------------------------------

    def _executions(
        self,
        session: Session,
        reports: Iterable[OrderStatusReport],
        fills: Iterable[FillReport],
        now: datetime,
        published: list[OrderEvent],
    ) -> None:
        fills_by_order: dict[str, list[FillReport]] = {}
        for fill in fills:
            fills_by_order.setdefault(fill.order_id, []).append(fill)
        for report in reports:
            order = self._match(session, report)
            if order is None:
                orphan = self._orphans.setdefault(report.order_id, _Orphan(self._clock.monotonic()))
                orphan.reports.append(report)
                orphan.fills.extend(fills_by_order.pop(report.order_id, ()))
                continue
            self._apply_report(session, order, report, now, published)
            for fill in fills_by_order.pop(report.order_id, ()):
                self._apply_fill(session, report.order_id, fill, now, published)
        for order_id, leftover in fills_by_order.items():
            for fill in leftover:
                self._apply_fill(session, order_id, fill, now, published)

    def _match(self, session: Session, report: OrderStatusReport) -> Order | None:
        order = self._book.find_for_report(report)
        if order is not None:
            return order
        row = repository.find_order(session, self._account, order_id=report.order_id)
        if row is not None:
            order = _order_from_row(row)
            self._book.add(order)
            return order
        return None

    def _apply_report(
        self,
        session: Session,
        order: Order,
        report: OrderStatusReport,
        now: datetime,
        published: list[OrderEvent],
    ) -> bool:
        """Apply one report; True when it changed the order.

        Every executions report is journaled, even a replay (the journal keeps what arrived);
        a REST report that changes nothing is not, or each reconciliation would copy the book.
        """
        try:
            after = apply_report(order, report, now=now)
        except InvalidTransition as exc:
            log.warning("left order %s as it is on %s: %s", order.pk, report.exec_type, exc)
            return False
        changed = after is not order  # apply_report returns the same object for no news
        if not changed and report.source == "reconciliation":
            return False
        self._book.replace(after)
        kind = report.exec_type or ("reconcile" if report.source == "reconciliation" else "report")
        self._write(session, order, after, now, report.source, kind, report.raw)
        if after.status is not order.status:
            published.append(OrderEvent(f"order_{after.status.value}", after, report.source))
        elif report.exec_type and report.exec_type not in _STATUS_WORDS:
            published.append(OrderEvent(f"order_{report.exec_type}", after, report.source))
        self._claim_unlinked(session, after, now, published)
        return changed

    def _apply_fill(
        self,
        session: Session,
        order_id: str,
        fill: FillReport,
        now: datetime,
        published: list[OrderEvent],
    ) -> bool:
        """Record a fill once (keyed by exec_id, whichever path brought it)."""
        order = self._book.find_for_report(fill)  # its order_id, or its cl_ord_id for an
        tracked = order is not None  # order whose acknowledgement has not been applied
        if order is None:
            row = repository.find_order(session, self._account, order_id=order_id)
            order = _order_from_row(row) if row is not None else None
        pk = order.pk if order is not None else None
        if not repository.insert_fill(
            session, account=self._account, order_pk=pk, fill=fill, summaries=self._uow_summaries
        ):
            return False
        if order is None:
            # recorded, not booked: the order that learns this id claims it
            self._unlinked_fills.add(order_id)
            return True
        if not tracked:
            # an order that left the book (ended a while ago) gets a fill, say from a REST
            # trade: it comes back into the book, as for a report, so that this transaction's
            # next fill of it starts from this one
            try:
                self._book.add(order)
            except DuplicateOrder as exc:
                log.warning("fill %s recorded, not booked on order %s: %s", fill.exec_id, pk, exc)
                return True
        after = apply_fill(order, fill, now=now)
        self._book.replace(after)
        last = self._uow_events[-1] if self._uow_events else None
        pk = after.pk
        if last is not None and last["raw"] is fill.raw and last["order_pk"] == pk and pk:
            # the trade report that carried this fill was just journaled with this message:
            # one journal entry per report, its status_after the order's after the fill too
            # (the fill's own row is in `fills`)
            self._uow_orders[pk] = (self._uow_orders[pk][0], after, now)
            last["status_after"] = after.status.value
        else:
            self._write(session, order, after, now, fill.source, "fill", fill.raw)
        if after.status is not order.status:
            published.append(OrderEvent(f"order_{after.status.value}", after, fill.source))
        self._claim_unlinked(session, after, now, published)
        return True

    def _claim_unlinked(
        self, session: Session, after: Order, now: datetime, published: list[OrderEvent]
    ) -> None:
        """Book the fills recorded for an order before it was known by Kraken's id.

        A fill that comes before its order's id is known here (the acknowledgement lost, a REST
        trade read before its order) is recorded at once with no order; without this, the order
        would later get its quantities from a report but never the fill's fee, and the fill
        could not be booked again (fills are recorded once per exec_id).
        """
        order_id = after.order_id
        if not order_id or order_id not in self._unlinked_fills:
            return
        self._unlinked_fills.discard(order_id)
        assert after.pk is not None
        for fill in repository.claim_fills(session, self._account, order_id, after.pk):
            current = self._book.get_by_pk(after.pk)
            if current is None:
                return
            try:
                booked = apply_fill(current, fill, now=now)
            except InvalidTransition as exc:
                log.warning("left fill %s unbooked on order %s: %s", fill.exec_id, after.pk, exc)
                continue
            self._book.replace(booked)
            self._write(session, current, booked, now, fill.source, "fill", fill.raw)
            if booked.status is not current.status:
                published.append(OrderEvent(f"order_{booked.status.value}", booked, fill.source))

    def _sweep_orphans(self) -> None:
        if not self._orphans:
            return
        horizon = self._clock.monotonic() - _ORPHAN_TTL_S
        stale = [oid for oid, o in self._orphans.items() if o.first_seen <= horizon]
        if not stale:
            return
        now = self._clock.now()
        published: list[OrderEvent] = []
        with self._transaction() as session:
            for order_id in stale:
                # nobody claimed these reports: an order placed by someone else on this account
                orphan = self._orphans[order_id]
                first = next((r for r in orphan.reports if r.symbol and r.side), None)
                if first is not None and self._edit_replacement(session, first, now, published):
                    continue  # our edit's new order, its answer lost: its reports replayed
                if first is None or not self._record_external(session, first, now, published):
                    self._orphans.pop(order_id)
                    log.warning("dropped reports for unknown order %s (no details)", order_id)
        self._publish(published)

    # -- reconciliation ----------------------------------------------------------------------

    def _request_reconcile(self, reason: str) -> None:
        self._gate_closed = True
        reconciler = self._reconciler()
        if reconciler is None:
            self._open_gate()
            return
        if self._reconcile_running:
            self._reconcile_again = reason  # back-to-back requests merge into one more run
            return
        self._reconcile_running = True
        self._recheck_at = None
        live = self._book.live()
        with self._sessions() as session:
            last_sync = repository.get_kv(session, self._account, "last_sync")
        since = datetime.fromisoformat(last_sync) if last_sync else None
        # an order known by its id is asked for by id (QueryOrders) whatever the window: only
        # one known by its cl_ord_id alone must be found in the lists, so only those reach back
        oldest = min((o.created_at for o in live if o.order_id is None), default=None)
        if oldest is not None and (since is None or oldest < since):
            since = oldest
        reconciler.tell(
            ReconcileRequested(
                reason,
                since,
                tuple(o.order_id for o in live if o.order_id),
                tuple(o.cl_ord_id for o in live if o.order_id is None and o.cl_ord_id),
                self.actor_ref,
            )
        )

    def _on_snapshot(self, snapshot: VenueSnapshot) -> None:
        self._reconcile_running = False
        now = self._clock.now()
        published: list[OrderEvent] = []
        changed = 0
        with self._transaction() as session:
            run_pk = repository.start_reconciliation(
                session,
                account=self._account,
                run_id=self._run_id,
                at=snapshot.taken_at,
                reason=snapshot.reason,
            )
            seen: set[int] = set()
            for report in snapshot.orders:
                order = self._match(session, report) or self._edit_replacement(
                    session, report, now, published
                )
                if order is None:
                    if self._record_external(session, report, now, published):
                        changed += 1
                    continue
                assert order.pk is not None
                seen.add(order.pk)
                if self._apply_report(session, order, report, now, published):
                    changed += 1
            for fill in snapshot.fills:
                if self._apply_fill(session, fill.order_id, fill, now, published):
                    changed += 1
            settlement = settle_unseen(self._book.live(), seen, snapshot.taken_at, self._policy)
            for order in settlement.never_placed:
                self._transition(
                    session,
                    order.pk or 0,
                    lifecycle.NeverSent(),
                    now,
                    "reconciliation",
                    "never_placed",
                    {"reason": snapshot.reason},
                    None,
                    published,
                )
                changed += 1
            horizon_next = settlement.look_again_at
            repository.finish_reconciliation(
                session,
                run_pk,
                at=now,
                outcome="ok",
                changed=changed,
                summary={"orders": len(snapshot.orders), "fills": len(snapshot.fills)},
            )
            repository.set_kv(session, self._account, "last_sync", snapshot.taken_at.isoformat())
        self._has_history = True
        self._publish(published)
        self._events.publish(
            "reconciled",
            {
                "reason": snapshot.reason,
                "changed": changed,
                "orders": len(snapshot.orders),
                "fills": len(snapshot.fills),
            },
        )
        if horizon_next is not None:
            self._recheck_at = horizon_next
        if self._reconcile_again is not None:
            reason, self._reconcile_again = self._reconcile_again, None
            self._request_reconcile(reason)
            return
        self._open_gate()

    def _edit_replacement(
        self,
        session: Session,
        report: OrderStatusReport,
        now: datetime,
        published: list[OrderEvent],
    ) -> Order | None:
        """Our edit's new order, for a report no key of ours matches: the one replacement in
        flight on its symbol and side with its price and quantity. It then takes the report's
        order id, as its answer would have given it.

        Only reconciliation and the orphans' sweep ask: by then the edit's answer was lost or
        is late. Recorded as another client's order instead, the order would have two rows,
        and the late answer, naming the same id, would break the database's uniqueness.
        """
        if not report.order_id or report.symbol is None or report.side is None:
            return None
        candidates = [
            row
            for row in repository.edit_replacements_in_flight(
                session, self._account, report.symbol, report.side
            )
            if (report.limit_price is None or row.limit_price == report.limit_price)
            and (report.order_qty is None or row.order_qty == report.order_qty)
        ]
        if len(candidates) != 1:
            return None  # none, or two we cannot tell apart: recorded as it stands
        pk = candidates[0].id
        self._transition(session, pk, lifecycle.Acknowledged(report.order_id), now,
                         "reconciliation", "edit_matched", {"order_id": report.order_id},
                         None, published)  # fmt: skip
        return self._book.get_by_order_id(report.order_id)

    def _record_external(
        self,
        session: Session,
        report: OrderStatusReport,
        now: datetime,
        published: list[OrderEvent],
    ) -> bool:
        """A row (origin `external`) for an order this engine did not place; False without the
        details a row needs."""
        if report.symbol is None or report.side is None or report.order_qty is None:
            return False
        pk = repository.insert_order(
            session,
            account=self._account,
            symbol=report.symbol,
            side=report.side,
            order_type=report.order_type or "",
            order_qty=report.order_qty,
            limit_price=report.limit_price,
            params={},
            status=OrderStatus.PENDING_NEW.value,
            created_at=report.timestamp or now,
            cl_ord_id=report.cl_ord_id,
            order_userref=report.order_userref,
            order_id=report.order_id,
            origin="external",
        )
        order = Order(
            pk=pk,
            account=self._account,
            cl_ord_id=report.cl_ord_id,
            order_userref=report.order_userref,
            order_id=report.order_id,
            symbol=report.symbol,
            side=report.side,
            order_type=report.order_type or "",
            order_qty=report.order_qty,
            limit_price=report.limit_price,
            status=OrderStatus.PENDING_NEW,
            created_at=report.timestamp or now,
            updated_at=now,
        )
        self._book.add(order)
        self._apply_report(session, order, report, now, published)
        current = self._book.get_by_pk(pk)
        if current is not None:  # its fills read before it (a REST trade, say)
            self._claim_unlinked(session, current, now, published)
        self._adopt_orphan(session, report.order_id, now, published)
        return True

    def _open_gate(self) -> None:
        self._gate_closed = False
        if self._deferred:
            commands: list[PlaceOrders | ForwardRequest] = [c for _, c in self._deferred]
            self._deferred.clear()
            # in groups, as from the intake: orders held through a long reconnect are no
            # reason for one unbounded transaction
            size = self._max_orders_per_commit
            for first in range(0, len(commands), size):
                self._process(commands[first : first + size])

    def _advance_sync(self) -> None:
        """Move `last_sync` along while the socket is up and nothing is unsettled.

        A reconciliation reads Kraken's closed orders and trades since `last_sync` (less a
        minute: REST may lag the socket). It was set by the last reconciliation only, so after
        hours of trading on one connection a drop read the whole session back, page by page
        under the REST counter, with order entry held until the end. While connected, the
        executions channel reports every change on the account, and a gap in its sequence
        asks for a reconciliation (the gate then closes and this waits): the database holds
        what Kraken did up to about now. The mark stays `sync_lag_s` behind the clock, more
        than a silent socket takes to be declared dead, so that what a dead socket did not
        deliver is still after it; and it does not move while an order's outcome is unknown.
        """
        if (
            self._gate_closed
            or self._reconcile_running
            or not self._connected_once
            or self._recheck_at is not None
        ):
            return
        now = self._clock.now()
        if self._synced_at is not None and now - self._synced_at < _SYNC_EVERY:
            return
        mark = now - self._sync_lag
        with self._transaction() as session:
            current = repository.get_kv(session, self._account, "last_sync")
            if current is None or datetime.fromisoformat(current) < mark:
                repository.set_kv(session, self._account, "last_sync", mark.isoformat())
        self._synced_at = now

    def _on_tick(self) -> None:
        # memory stays flat however long the engine runs: terminal orders leave the book after
        # a few seconds (late reports for them are matched through the database)
        self._book.forget_ended(self._clock.now() - _TERMINAL_KEPT, _ENDED_KEPT_MAX)
        if self._amended_at:
            # an amend's time prices the order's next amend or cancel: once it has ended
            # there is none (an entry per amended order was kept for the process's life)
            book = self._book
            self._amended_at = {
                pk: at
                for pk, at in self._amended_at.items()
                if (order := book.get_by_pk(pk)) is not None and order.is_live
            }
        if self._deferred:
            limit = self._clock.monotonic() - self._request_timeout
            expired: list[PlaceOrders] = []
            while self._deferred and self._deferred[0][0] <= limit:
                expired.append(self._deferred.popleft()[1])
            if expired:
                self._expire_deferred(expired)
        if self._recheck_at is not None and self._clock.now() >= self._recheck_at:
            self._recheck_at = None
            self._request_reconcile("in-flight orders unsettled")

    def _expire_deferred(self, expired: list[PlaceOrders]) -> None:
        """Orders held by the gate past request_timeout: their rows end `not_sent` (contract:
        "never sent ... the row ends not_sent"), then their futures fail with NotSent."""
        now = self._clock.now()
        published: list[OrderEvent] = []
        with self._transaction() as session:
            for command in expired:
                if command.future.done():
                    continue
                request = self._record_placement(session, command, now)
                for pk in request.ref if request is not None else ():
                    self._transition(
                        session,
                        pk,
                        lifecycle.NeverSent(),
                        now,
                        "request",
                        "not_sent",
                        {"reason": "held while reconciling past request_timeout"},
                        None,
                        published,
                    )
        self._publish(published)
        for command in expired:
            if not command.future.done():
                command.future.set_exception(
                    NotSent(
                        f"{command.method}: the engine was still reconciling after "
                        f"{self._request_timeout} s; not sent"
                    )
                )

    # -- writing -----------------------------------------------------------------------------

    def _transition(
        self,
        session: Session,
        pk: int,
        trigger: lifecycle.Trigger,
        now: datetime,
        source: str,
        kind: str,
        raw: dict[str, Any],
        req_id: int | None,
        published: list[OrderEvent],
    ) -> None:
        order = self._book.get_by_pk(pk)
        if order is None:
            return
        try:
            after = lifecycle.apply(order, trigger, now=now)
        except InvalidTransition as exc:
            log.warning("ignored %s for order %s: %s", kind, pk, exc)
            return
        self._book.replace(after)
        self._write(session, order, after, now, source, kind, raw, req_id)
        if after.status is not order.status:
            published.append(OrderEvent(f"order_{after.status.value}", after, source))
        self._claim_unlinked(session, after, now, published)
        if after.order_id:
            self._adopt_orphan(session, after.order_id, now, published)

    def _adopt_orphan(
        self, session: Session, order_id: str, now: datetime, published: list[OrderEvent]
    ) -> None:
        """Replay the reports and fills that arrived for `order_id` before we knew the order."""
        orphan = self._orphans.pop(order_id, None)
        if orphan is None:
            return
        for report in orphan.reports:
            current = self._book.get_by_order_id(order_id)
            if current is not None:
                self._apply_report(session, current, report, now, published)
        for fill in orphan.fills:
            self._apply_fill(session, order_id, fill, now, published)

    def _journal(self, session: Session, **event: Any) -> None:
        """Queue one journal entry (this account's); written with the others when the
        transaction ends."""
        event.setdefault("account", self._account)
        self._uow_events.append(event)

    def _journal_named(self, session: Session, ref: Any, **event: Any) -> None:
        """One journal entry for each order a forwarded request names (`_Names`), so that it
        is in each one's timeline; one unlinked entry when it names none."""
        for pk in _named(ref):
            self._journal(session, order_pk=pk, **event)

    def _write(
        self,
        session: Session,
        before: Order,
        after: Order,
        now: datetime,
        source: str,
        kind: str,
        raw: dict[str, Any] | None,
        req_id: int | None = None,
    ) -> None:
        """Record a change: the row's state once per transaction, the journal entry always."""
        assert after.pk is not None
        # the row's state is taken when the transaction ends (orders are immutable)
        touched = self._uow_orders.get(after.pk)
        self._uow_orders[after.pk] = (before if touched is None else touched[0], after, now)
        self._uow_events.append(
            {
                "account": self._account,
                "order_pk": after.pk,
                "at": now,
                "source": source,
                "kind": kind,
                "status_before": before.status.value,
                "status_after": after.status.value,
                "raw": raw,
                "req_id": req_id,
            }
        )

    def _publish(self, published: list[OrderEvent]) -> None:
        for event in published:
            self._events.publish("order", event)


_STATUS_WORDS = frozenset(status.value for status in OrderStatus)

_COLUMNS = (
    "order_qty",
    "limit_price",
    "cum_qty",
    "cum_cost",
    "avg_price",
    "fees",
    "reason",
    "sent_at",
    "acknowledged_at",
    "closed_at",
)


def _row_updates(
    touched: Iterable[tuple[Order, Order, datetime]],
) -> dict[tuple[str, ...], dict[int, dict[str, Any]]]:
    """The rows to write, grouped by the columns they set: one executemany per group.

    Every mutable column is written, except the indexed `status` and `order_id` when they did
    not change in the transaction: SQLite rewrites an index entry for every indexed column an
    UPDATE sets, changed or not, and `status` is in two indexes (a fill's update cost three
    times as much with it). A `submitted` order's status is the book's own (`Sent` is never
    written), so the row still says `pending_submit`: its status is always written.
    """
    groups: dict[tuple[str, ...], dict[int, dict[str, Any]]] = {}
    for before, after, now in touched:
        assert after.pk is not None
        state = {column: getattr(after, column) for column in _COLUMNS}
        state["updated_at"] = now
        if after.status is not before.status or before.status is OrderStatus.SUBMITTED:
            state["status"] = after.status.value
        if after.order_id != before.order_id:
            state["order_id"] = after.order_id
        groups.setdefault(tuple(state), {})[after.pk] = state
    return groups


def _result_attr(response: MethodResponse, name: str) -> Any:
    return getattr(response.result, name, None) if response.result is not None else None


def _order_from_row(row: Any) -> Order:
    return Order(
        pk=row.id,
        account=row.account,
        cl_ord_id=row.cl_ord_id,
        order_userref=row.order_userref,
        order_id=row.order_id,
        symbol=row.symbol,
        side=row.side,
        order_type=row.order_type,
        order_qty=row.order_qty,
        limit_price=row.limit_price,
        status=OrderStatus(row.status),
        cum_qty=row.cum_qty,
        cum_cost=row.cum_cost,
        avg_price=row.avg_price,
        fees=row.fees,
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at,
        closed_at=row.closed_at,
    )
