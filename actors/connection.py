"""ConnectionActor: owns the one authenticated WebSocket v2 connection.

Theory of operation. The actor moves between `idle` -> `connecting` (token over REST, socket
open, `executions` subscribe sent) -> `authenticated` (subscribe acknowledged) and back to
`waiting` (a retry time is set) whenever the socket ends. Requests arriving while not
authenticated wait in a queue, urgent ones (cancels, the dead man's switch) first, each for at
most `request_timeout` before failing as never sent. A sent request is registered by `req_id`
before its frame leaves; its answer (one or several frames) resolves the caller's future here,
on the socket's side, and the outcome is told to whoever sent it (the order manager). A request
without an answer when its time is up, or when the socket ends, resolves as outcome-unknown:
the order may be live, and only reconciliation may say otherwise. A `Tick` drives every
timeout, the application ping and the liveness check, so nothing here sleeps.

The hot path skips the actor's mailbox: the order manager tells its requests to the `wire` (an
`actors.handover.Door`), which transmits them on the order manager's own thread, and the
socket's reader thread settles answers to pending requests itself, and the other pushes
(status) too. Both only try the actor's lock; when the actor holds it, the request or answer
waits in a backlog, in order, for the next holder, and a push goes through the mailbox (as do
the pushes read after it, so that they keep their order). Executions need no lock at all: they
touch only the session's sequence count, kept by its reader, and the order manager's inlet, so
the reader hands them on itself unless an earlier frame of its own still waits in the mailbox.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import pykka

from actors.handover import Door
from actors.listeners import EventBus
from actors.messages import (
    Connect,
    ConnectionDown,
    ConnectionUp,
    ExecutionsReceived,
    FrameReceived,
    ReaderFailed,
    RequestAnswered,
    RequestNotSent,
    RequestUnanswered,
    SendRequest,
    SocketClosed,
    Tick,
    TokenRefused,
    VenueStatusChanged,
    WireBacklog,
)
from actors.rest_client import RestClient
from actors.supervision import EngineActor, FailureHandler
from actors.transport import WebSocketTransport
from engine.config import EngineConfig
from engine.domain.backoff import Backoff, ConnectionBudget
from engine.domain.clock import Clock
from engine.domain.ids import ReqIdCounter
from engine.errors import (
    CredentialsRefused,
    EngineStopped,
    KrakenRouterError,
    NotSent,
    OutcomeUnknown,
    RateLimitExceeded,
    TradingUnavailable,
    VenueRejection,
)
from engine.kraken.codec import CodecError, decode, encode
from engine.kraken.control import build_ping, build_subscribe_executions, classify, parse_status
from engine.kraken.envelope import MethodResponse, format_time, parse_response
from engine.kraken.executions import parse_executions
from engine.kraken.rest import parse_websockets_token
from engine.kraken.trading import build_request
from engine.kraken.venue_errors import ErrorKind, classify_error
from engine.responses import MultiFrameResponse

__all__ = ["ConnectionActor"]

log = logging.getLogger("kraken_router.connection")


class Tellable(Protocol):
    """An actor ref, or anything that forwards `tell` to one (the order manager's inlet)."""

    def tell(self, message: Any) -> None: ...


_ORDER_ENTRY = frozenset({"add_order", "batch_add", "amend_order", "edit_order"})
_LATE_ANSWERS_KEPT = 10_000


@dataclass(slots=True)
class _Pending:
    request: SendRequest
    req_id: int
    deadline: float
    frames: list[MethodResponse] = field(default_factory=list)


class ConnectionActor(EngineActor):
    def __init__(
        self,
        config: EngineConfig,
        rest: RestClient,
        clock: Clock,
        events: EventBus,
        backoff: Backoff,
        budget: ConnectionBudget,
        subscribers: Callable[[], Sequence[Tellable]],
        executions_to: Callable[[], Tellable | None],
        on_failed: FailureHandler | None = None,
    ) -> None:
        super().__init__(on_failed)
        self._config = config
        self._rest = rest
        self._clock = clock
        self._events = events
        self._backoff = backoff
        self._budget = budget
        self._subscribers = subscribers
        # executions go to their one consumer: a tell to an actor that ignores them wakes its
        # thread three times per order, each wake-up taking the GIL from the hot path
        self._executions_to = executions_to
        self._transport: WebSocketTransport | None = None
        self._token: str | None = None
        self._session_no = 0
        self._state = "idle"
        self._ever_authenticated = False
        self._stopping = False
        self._attempt = 0
        self._retry_at: float | None = None
        self._req_ids = ReqIdCounter()
        self._subscribe_req_id: int | None = None
        self._pending: dict[int, _Pending] = {}
        self._late: OrderedDict[int, SendRequest] = OrderedDict()
        self._queue: deque[SendRequest] = deque()
        self._system = "online"
        self._last_frame_at = 0.0
        self._last_ping_at = 0.0
        self._reader: _ReaderInlet | None = None  # the current session's
        self._skew = timedelta(0)
        self._refused_session = 0
        # The hot path skips two thread hand-offs: the order manager transmits its requests
        # from its own thread, and the socket's reader thread settles answers to pending
        # requests itself. Both only ever *try* this lock: when the actor holds it (connecting,
        # say), they leave their item in a backlog, in order, for whoever holds it next.
        self._lock = threading.RLock()
        self._send_backlog: deque[SendRequest] = deque()
        # while the backlog drains: the frames to write together when it is empty
        self._outbox: list[str] | None = None
        self._answer_backlog: deque[tuple[int, dict[str, Any]]] = deque()
        # frames the readers told the actor, and those it has handled: a reader handles a
        # push itself only when the two are equal (none of its frames waits in the mailbox).
        # Two readers may overlap at a reconnect, hence the lock for the one count they share.
        self._frames_lock = threading.Lock()
        self._frames_told = 0
        self._frames_handled = 0
        self.wire = Door(self, self._send_backlog, self._try_send_now, WireBacklog())

    # -- pykka hooks -------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        with self._lock:
            self._drain_answers()
            match message:
                case SendRequest():
                    self._drain_sends()
                    self._on_send(message)
                case WireBacklog():
                    self._drain_sends()
                case FrameReceived(session_no=session_no, text=text):
                    try:
                        if session_no == self._session_no:
                            self._on_frame(text)
                    finally:
                        # once handled, not before: until then the reader leaves executions
                        # to this thread too (see `_frame_from_reader`)
                        self._frames_handled += 1
                case SocketClosed(session_no=session_no, reason=reason):
                    if session_no == self._session_no and self._transport is not None:
                        self._on_closed(reason)
                case TokenRefused(session_no=session_no):
                    if session_no == self._session_no and self._transport is not None:
                        log.info("Kraken refused the session token; reconnecting with a fresh one")
                        self._close_transport()
                        self._on_closed("token refused")
                case Tick():
                    self._drain_sends()
                    self._on_tick()
                case Connect():
                    if self._state in ("idle", "waiting"):
                        self._connect()
                case ReaderFailed(error=error):
                    raise error  # fail-stop (actors.supervision), from the actor's thread
                case _:
                    log.warning(
                        "connection actor got an unknown message %r", type(message).__name__
                    )
        return None

    def on_stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._drain_answers()
            self._drain_sends()  # fails them: nothing more leaves
            self._close_transport()
            for pending in list(self._pending.values()):
                self._unanswered(pending, "engine stopped while waiting for the answer")
            self._pending.clear()
            while self._queue:
                self._stopped_before_sending(self._queue.popleft())

    def _stopped_before_sending(self, request: SendRequest) -> None:
        _fail(request.future, EngineStopped(f"{request.method}: engine stopped, not sent"))
        self._tell(request.reply_to, RequestNotSent(request.ref, request.method, "stopped"))

    # -- queries (through the proxy) ---------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "session_no": self._session_no,
            "system": self._system,
            "pending": len(self._pending),
            "queued": len(self._queue),
            "clock_skew_s": self._skew.total_seconds(),
        }

    # -- connecting --------------------------------------------------------------------------

    def _connect(self) -> None:
        now = self._clock.monotonic()
        allowed = self._budget.next_allowed(now)
        if allowed > now:
            self._state = "waiting"
            self._retry_at = allowed
            log.warning(
                "connection budget spent: next attempt in %.1f s (Kraken bans IPs that exceed it)",
                allowed - now,
            )
            self._events.publish("reconnecting", {"in_s": allowed - now, "reason": "budget"})
            return
        self._budget.record(now)
        self._state = "connecting"
        self._retry_at = None
        self._session_no += 1
        try:
            token = parse_websockets_token(self._rest.private("GetWebSocketsToken"))
            self._token = token.token
            self._reader = _ReaderInlet(self, self._session_no)
            transport = WebSocketTransport(
                self._config.ws_url,
                self._session_no,
                self._reader,
                self._config.connect_timeout,
            )
            transport.open()
        except KrakenRouterError as exc:
            if isinstance(exc, CredentialsRefused):
                log.error("connect attempt %d failed: %s", self._attempt + 1, exc)
            else:
                log.warning("connect attempt %d failed: %s", self._attempt + 1, exc)
            self._events.publish("exception", exc)
            self._schedule_retry(str(exc), exc)
            return
        self._transport = transport
        self._last_frame_at = self._clock.monotonic()
        self._last_ping_at = self._last_frame_at
        self._events.publish("open", {"session_no": self._session_no})
        self._subscribe_req_id = self._req_ids.next()
        self._send_text(
            encode(build_subscribe_executions(self._token, self._subscribe_req_id)), None
        )

    def _on_subscribed(self, frame: dict[str, Any]) -> None:
        if not frame.get("success"):
            error = str(frame.get("error"))
            log.warning("executions subscription refused: %s", error)
            refusal = (
                CredentialsRefused(error, "subscribe")
                if classify_error(error) is ErrorKind.FATAL
                else VenueRejection(error, "subscribe", None)
            )
            self._events.publish("exception", refusal)
            self._close_transport()
            self._schedule_retry(error, refusal)
            return
        reconnect = self._ever_authenticated
        self._state = "authenticated"
        self._ever_authenticated = True
        self._attempt = 0
        for ref in self._subscribers():
            self._tell(ref, ConnectionUp(self._session_no, reconnect))
        self._events.publish("reconnected" if reconnect else "authenticated", self._session_no)
        if reconnect:
            self._events.publish("authenticated", self._session_no)
        while self._queue and self._state == "authenticated":
            self._transmit(self._queue.popleft())
        self._drain_sends()

    def _schedule_retry(self, reason: str, error: KrakenRouterError | None = None) -> None:
        """The next attempt, after the backoff's delay (`error`: why this one failed, if it
        did: the `reconnecting` event carries it, and `Engine.connect()` reads it)."""
        self._state = "waiting"
        if self._stopping:
            return
        delay = self._backoff.delay(self._attempt)
        if isinstance(error, CredentialsRefused):
            # nothing but a new configuration helps, and Kraken locks out a key that keeps
            # failing; an explicit `Engine.connect()` still tries at once
            delay = max(delay, error.retry_after_s)
        self._attempt += 1
        self._retry_at = self._clock.monotonic() + delay
        self._events.publish("reconnecting", {"in_s": delay, "reason": reason, "error": error})
        if delay <= 0:
            self.actor_ref.tell(Connect())

    def _on_closed(self, reason: str) -> None:
        log.info("connection %d closed: %s", self._session_no, reason)
        was_up = self._state == "authenticated"
        self._close_transport()
        for pending in list(self._pending.values()):
            self._unanswered(pending, f"connection lost: {reason}")
        self._pending.clear()
        if was_up:
            for ref in self._subscribers():
                self._tell(ref, ConnectionDown(self._session_no, reason))
        self._events.publish("close", {"session_no": self._session_no, "reason": reason})
        self._schedule_retry(reason)

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        self._token = None
        if transport is not None:
            transport.close()

    # -- the hot path, on the order manager's and the reader's threads ------------------------

    def _drain_sends(self) -> None:
        """Holding the lock: transmit (or queue) what the `wire` left, in the order it came,
        its frames written together (each write released the GIL, and under load the sender
        then waited to win it back)."""
        if not self._send_backlog:
            return
        self._outbox = []
        try:
            while self._send_backlog:
                request = self._send_backlog.popleft()
                if self._stopping:
                    self._stopped_before_sending(request)
                else:
                    self._on_send(request)
        finally:
            outbox, self._outbox = self._outbox, None
            if outbox:
                self._write(outbox)

    def _drain_answers(self) -> None:
        """Holding the lock: settle the answers the reader thread left, in the order read."""
        while self._answer_backlog:
            session_no, frame = self._answer_backlog.popleft()
            if session_no == self._session_no:
                self._on_response(frame)

    def _sendable(self) -> bool:
        """The socket can take a request now: otherwise it waits in the queue, and the actor's
        handling of the end of the socket (already told, maybe not yet handled) reconnects."""
        return (
            self._state == "authenticated"
            and self._transport is not None
            and self._transport.is_open
            and self._refused_session != self._session_no
        )

    def _try_send_now(self) -> bool:
        """On a sender's thread: transmit the backlog unless only the actor's thread may act
        (not authenticated: connecting or queueing is the actor's work)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._stopping or self._sendable():
                self._drain_sends()
                return True
            return False
        finally:
            self._lock.release()

    def _frame_from_reader(self, message: FrameReceived, reader: _ReaderInlet) -> None:
        """On the reader thread: answers to requests are settled here, with no hop.

        Executions are handled here too, without the actor's lock, whenever none of this
        reader's frames waits in the actor's mailbox (so frames are handled in the order
        read): they touch nothing of the actor's but the reader's own sequence count and the
        order manager's inlet. Under load the lock is mostly held by a sender, and an
        executions frame that waited for it went through the actor's thread: a wake-up and
        a GIL hand-over for two frames of every order. Other pushes (status), pongs and
        subscription answers are handled here while the actor is free and none of this
        reader's frames waits; otherwise they go to the actor, as does anything unreadable.
        """
        text = message.text
        if '"channel"' not in text:
            try:
                frame = decode(text)
            except CodecError:
                frame = None
            if frame is not None and classify(frame) == "response":
                self._last_frame_at = self._clock.monotonic()
                self._answer_backlog.append((message.session_no, frame))
                if self._lock.acquire(blocking=False):
                    try:
                        self._drain_answers()
                    finally:
                        self._lock.release()
                else:
                    self.actor_ref.tell(WireBacklog())
                return
        elif '"executions"' in text and self._frames_told == self._frames_handled:
            try:
                frame = decode(text)
            except CodecError:
                frame = None
            if (
                frame is not None
                and classify(frame) == "executions"
                and reader is self._reader  # not a closed session's last frames
                and not self._stopping
            ):
                self._last_frame_at = self._clock.monotonic()
                self._on_executions(frame, reader)
                return
        if self._frames_told == self._frames_handled and self._lock.acquire(blocking=False):
            try:
                if (
                    self._frames_told == self._frames_handled
                    and message.session_no == self._session_no
                    and not self._stopping
                ):
                    self._drain_answers()
                    self._on_frame(text)
                    return
            finally:
                self._lock.release()
        with self._frames_lock:
            self._frames_told += 1
        self.actor_ref.tell(message)

    # -- sending -----------------------------------------------------------------------------

    def _on_send(self, request: SendRequest) -> None:
        if not request.queued_at:
            request = replace(request, queued_at=self._clock.monotonic())
        if not self._sendable():
            if request.urgent:
                self._queue.appendleft(request)
            else:
                self._queue.append(request)
            if self._state == "idle":
                self._connect()
            return
        self._transmit(request)

    def _transmit(self, request: SendRequest) -> None:
        refusal = self._gate(request)
        if refusal is not None:
            _fail(request.future, refusal)
            self._tell(request.reply_to, RequestNotSent(request.ref, request.method, str(refusal)))
            return
        assert self._token is not None
        req_id = self._req_ids.next()
        params = request.params
        if (
            request.method in ("add_order", "batch_add")
            and self._config.order_deadline
            and "deadline" not in params
            and not params.get("validate")
        ):
            params = {**params, "deadline": self._venue_deadline()}
        text = encode(build_request(request.method, params, req_id, self._token))
        now = self._clock.monotonic()
        self._pending[req_id] = _Pending(request, req_id, now + self._config.request_timeout)
        self._send_text(text, req_id)

    def _gate(self, request: SendRequest) -> KrakenRouterError | None:
        if request.urgent or request.method not in _ORDER_ENTRY:
            return None
        if self._system in ("maintenance", "cancel_only"):
            return TradingUnavailable("system", f"Kraken is in {self._system} mode")
        if self._system == "post_only" and request.method in ("add_order", "batch_add"):
            orders = request.params.get("orders") or [request.params]
            if not all(o.get("post_only") for o in orders):
                return TradingUnavailable("post_only", "Kraken accepts only post-only orders now")
        return None

    def _venue_deadline(self) -> str:
        assert self._config.order_deadline is not None
        at = self._clock.now() + self._skew + timedelta(seconds=self._config.order_deadline)
        return format_time(at, "ms")

    def _send_text(self, text: str, req_id: int | None) -> None:
        if self._outbox is not None:
            self._outbox.append(text)  # written when the backlog has drained
        else:
            self._write((text,))

    def _write(self, texts: Sequence[str]) -> None:
        transport = self._transport
        if transport is None:
            return
        try:
            transport.send(texts)
        except KrakenRouterError as exc:
            # the reader thread reports the end of the socket; the pending entries, if any,
            # then resolve as outcome-unknown (a partial frame may have left)
            log.info("send on session %d failed: %s", self._session_no, exc)

    # -- receiving ---------------------------------------------------------------------------

    def _on_frame(self, text: str) -> None:
        self._last_frame_at = self._clock.monotonic()
        try:
            frame = decode(text)
        except CodecError as exc:
            log.warning("ignored a malformed frame from Kraken: %s", exc)
            self._events.publish("exception", exc)
            return
        kind = classify(frame)
        if kind == "executions":
            if self._reader is not None:
                self._on_executions(frame, self._reader)
        elif kind == "status":
            self._on_status(frame)
        elif kind == "heartbeat":
            return
        elif kind == "pong":
            self._observe_venue_time(frame)
        elif frame.get("req_id") == self._subscribe_req_id and kind in ("subscribe", "response"):
            self._subscribe_req_id = None
            self._on_subscribed(frame)
        elif kind in ("response", "subscribe", "unsubscribe"):
            self._on_response(frame)
        else:
            log.debug("ignored a frame of kind %s", kind)

    def _on_executions(self, frame: dict[str, Any], reader: _ReaderInlet) -> None:
        """On the reader's thread or, holding the lock, the actor's (never both at once: see
        `_frame_from_reader`). The sequence count is the session's, kept by its reader."""
        try:
            message = parse_executions(frame)
        except KrakenRouterError as exc:
            log.warning("ignored an executions message: %s", exc)
            self._events.publish("exception", exc)
            return
        last = reader.last_sequence
        if (
            message.sequence is not None
            and last is not None
            and message.sequence > last + 1
            and message.type == "update"
        ):
            log.warning(
                "executions sequence jumped from %d to %d: back-filling over REST",
                last,
                message.sequence,
            )
            gap = True
        else:
            gap = False
        if message.sequence is not None:
            reader.last_sequence = max(message.sequence, last or 0)
        self._tell(self._executions_to(), ExecutionsReceived(message, reader.session_no, gap))

    def _on_status(self, frame: dict[str, Any]) -> None:
        status = parse_status(frame)
        if status.system != self._system:
            log.info("Kraken system status: %s", status.system)
        self._system = status.system
        self._events.publish("status", status)
        for ref in self._subscribers():
            self._tell(ref, VenueStatusChanged(status.system))

    def _on_response(self, frame: dict[str, Any]) -> None:
        try:
            response = parse_response(frame)
        except KrakenRouterError as exc:
            log.warning("ignored an unreadable response: %s", exc)
            self._events.publish("exception", exc)
            return
        self._observe_venue_time(frame)
        req_id = response.req_id
        pending = self._pending.get(req_id) if req_id is not None else None
        if pending is None and req_id is None and not response.success:
            # Kraken omits req_id on some error frames: the oldest request of that method
            pending = next(
                (p for p in self._pending.values() if p.request.method == response.method), None
            )
        if pending is None:
            late = self._late.pop(req_id, None) if req_id is not None else None
            if late is not None:
                self._tell(
                    late.reply_to, RequestAnswered(late.ref, late.method, req_id or 0, response)
                )
            else:
                log.debug("answer to an unknown req_id %s (%s)", req_id, response.method)
            return
        pending.frames.append(response)
        if len(pending.frames) >= pending.request.expected_frames:
            del self._pending[pending.req_id]
            self._answered(pending)
        if not response.success and classify_error(response.error or "") is ErrorKind.INVALID_TOKEN:
            # closing and reconnecting is the actor's own work, whichever thread read this;
            # meanwhile nothing more leaves on this session's token
            self._refused_session = self._session_no
            self._tell(self.actor_ref, TokenRefused(self._session_no))

    def _answered(self, pending: _Pending) -> None:
        request = pending.request
        frames = tuple(pending.frames)
        first = frames[0]
        if (
            not first.success
            and request.expected_frames == 1
            and classify_error(first.error or "") is ErrorKind.AMBIGUOUS
        ):
            # e.g. EService:Unavailable: Kraken may or may not have acted; only
            # reconciliation can tell, so this is not a rejection
            reason = f"Kraken answered {first.error}"
            _fail(
                request.future,
                OutcomeUnknown(request.method, pending.req_id, reason, _ids(request)),
            )
            self._tell(
                request.reply_to,
                RequestUnanswered(request.ref, request.method, pending.req_id, reason),
            )
            return
        # the sender hears first: a caller acting on its future (a cancel of the order just
        # acknowledged, say) then finds the answer already queued for the order manager
        self._tell(
            request.reply_to,
            RequestAnswered(request.ref, request.method, pending.req_id, first, frames),
        )
        if request.expected_frames > 1:
            _resolve(
                request.future,
                MultiFrameResponse(request.method, pending.req_id, frames, request.expected_frames),
            )
        elif first.success or (request.method == "batch_add" and first.result):
            _resolve(request.future, first)
        else:
            _fail(request.future, _venue_error(first, pending.req_id))

    def _unanswered(self, pending: _Pending, reason: str) -> None:
        request = pending.request
        if pending.frames and request.expected_frames > 1:
            # some ids answered: resolve with what arrived, never hide the missing ones
            self._answered(pending)
            return
        _fail(request.future, OutcomeUnknown(request.method, pending.req_id, reason, _ids(request)))
        self._tell(
            request.reply_to, RequestUnanswered(request.ref, request.method, pending.req_id, reason)
        )
        self._late[pending.req_id] = request
        while len(self._late) > _LATE_ANSWERS_KEPT:
            self._late.popitem(last=False)

    def _observe_venue_time(self, frame: dict[str, Any]) -> None:
        time_out = frame.get("time_out")
        if isinstance(time_out, str):
            try:
                venue = datetime.fromisoformat(time_out.replace("Z", "+00:00"))
            except ValueError:
                return
            self._skew = venue - self._clock.now()

    # -- timers ------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        now = self._clock.monotonic()
        for pending in [p for p in self._pending.values() if p.deadline <= now]:
            del self._pending[pending.req_id]
            self._unanswered(pending, f"no answer within {self._config.request_timeout} s")
        limit = now - self._config.request_timeout
        if self._queue and any(r.queued_at <= limit for r in self._queue):
            keep: deque[SendRequest] = deque()
            for request in self._queue:
                if request.queued_at <= limit:
                    _fail(
                        request.future,
                        NotSent(
                            f"{request.method}: no connection within "
                            f"{self._config.request_timeout} s; not sent"
                        ),
                    )
                    self._tell(
                        request.reply_to, RequestNotSent(request.ref, request.method, "timeout")
                    )
                else:
                    keep.append(request)
            self._queue = keep
        if self._state == "authenticated" and self._transport is not None:
            if now - self._last_frame_at > self._config.liveness_timeout:
                log.warning(
                    "no frame for %.1f s: connection presumed dead", now - self._last_frame_at
                )
                self._on_closed("liveness timeout")
            elif now - self._last_ping_at >= self._config.ping_interval:
                self._last_ping_at = now
                self._send_text(encode(build_ping(self._req_ids.next())), None)
        elif self._state == "waiting" and self._retry_at is not None and now >= self._retry_at:
            self._connect()

    @staticmethod
    def _tell(ref: Any, message: Any) -> None:
        # an actor that stopped first (engine shutdown) has nobody left to care
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(message)


class _ReaderInlet:
    """The reader thread's target (one per session): answers and executions handled in
    place, everything else told. It keeps the session's executions sequence count."""

    def __init__(self, actor: ConnectionActor, session_no: int) -> None:
        self._actor = actor
        self.session_no = session_no
        self.last_sequence: int | None = None

    def tell(self, message: Any) -> None:
        if isinstance(message, FrameReceived):
            try:
                self._actor._frame_from_reader(message, self)
            except Exception as exc:
                # the actor's code raised on this thread: the engine stops (fail-stop), and
                # this reader reads no further (the transport then reports the socket closed)
                with contextlib.suppress(pykka.ActorDeadError):
                    self._actor.actor_ref.tell(ReaderFailed(exc))
                raise
        else:
            self._actor.actor_ref.tell(message)


def _ids(request: SendRequest) -> tuple[str, ...]:
    ref = request.ref
    if isinstance(ref, tuple) and all(isinstance(x, str) for x in ref):
        return ref
    return ()


def _venue_error(response: MethodResponse, req_id: int) -> VenueRejection:
    error = response.error or "unknown error"
    if classify_error(error) is ErrorKind.RATE_LIMITED:
        return RateLimitExceeded(error, response.method, response.req_id or req_id)
    return VenueRejection(error, response.method, response.req_id or req_id)


def _resolve(future: Any, value: Any) -> None:
    if future is not None and not future.done():
        future.set_result(value)


def _fail(future: Any, error: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(error)
