"""The vocabulary actors exchange that is not part of the domain.

Commands are imperative, events past tense, reports nouns. All are frozen and slotted, carry
only immutable values (plus the caller's `Future`, which is the one thing meant to be shared),
and keep tokens and secrets out of their `repr`.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.reports import FillReport, OrderStatusReport
from engine.domain.throttle import Touch
from engine.kraken.envelope import MethodResponse
from engine.kraken.executions import ExecutionsMessage

__all__ = [
    "Connect",
    "ConnectionDown",
    "ConnectionUp",
    "ExecutionsReceived",
    "FrameReceived",
    "RequestAnswered",
    "RequestNotSent",
    "RequestUnanswered",
    "SendRequest",
    "SocketClosed",
    "SocketOpened",
    "Tick",
    "TokenRefused",
    "VenueStatusChanged",
    "WireBacklog",
]


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer's wake-up; the receiver reads its own clock."""


@dataclass(frozen=True, slots=True)
class WireBacklog:
    """A nudge: requests or answers wait in the connection's backlogs for its lock."""


@dataclass(frozen=True, slots=True)
class TokenRefused:
    """Kraken refused the session's token: close this session and reconnect with a fresh one."""

    session_no: int


@dataclass(frozen=True, slots=True)
class Connect:
    """Open (or re-open) the authenticated connection."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send one trading request once the connection is authenticated.

    `ref` is the sender's own key for the request (e.g. the order rows it concerns); the
    connection echoes it back in the outcome it reports to `reply_to`. `future` is the caller's
    future, resolved by the connection as soon as the answer arrives. `urgent` requests
    (cancels, dead man's switch) go ahead of queued ones and pass venue status gates.
    """

    method: str
    params: dict[str, Any]
    future: Future[Any] | None = field(default=None, compare=False)
    ref: Any = None
    reply_to: Any = field(default=None, compare=False, repr=False)
    expected_frames: int = 1
    urgent: bool = False
    queued_at: float = 0.0
    # the orders it concerns (pair, created/last amended): what the rate limiter prices it by
    touches: tuple[Touch, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestAnswered:
    """Kraken answered (success or refusal); the connection already resolved the future."""

    ref: Any
    method: str
    req_id: int
    response: MethodResponse
    responses: tuple[MethodResponse, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestUnanswered:
    """Sent, but no answer before the timeout or the connection dropped: outcome unknown."""

    ref: Any
    method: str
    req_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class RequestNotSent:
    """Waited for a connection past request_timeout; nothing was sent."""

    ref: Any
    method: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExecutionsReceived:
    message: ExecutionsMessage
    session_no: int
    gap: bool = False  # the sequence jumped: reports were missed and REST must back-fill


@dataclass(frozen=True, slots=True)
class ConnectionUp:
    """Authenticated: the executions subscription was acknowledged on a fresh token."""

    session_no: int
    reconnect: bool


@dataclass(frozen=True, slots=True)
class ConnectionDown:
    session_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class VenueStatusChanged:
    system: str


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """Told by the reader thread: the only thing it ever does besides `SocketClosed`."""

    session_no: int
    text: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ReaderFailed:
    """Told by the reader thread when handling a frame in place raised (a bug, not the socket:
    the socket's errors come from `recv`, and a send's are caught where it is made). The
    connection actor raises it on its own thread, so that it fails like any handler would."""

    error: Exception


@dataclass(frozen=True, slots=True)
class SocketOpened:
    session_no: int


@dataclass(frozen=True, slots=True)
class SocketClosed:
    session_no: int
    reason: str


@dataclass(frozen=True, slots=True)
class PlaceOrders:
    """add_order or batch_add (or edit_order, whose result is a new order): rows first, then send.

    `params` are the validated wire params (cl_ord_id already assigned). Validate-only requests
    write no order row, only a journal entry.
    """

    method: str
    params: dict[str, Any]
    future: Future[Any] = field(compare=False)


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    """amend/cancel/cancel_all/batch_cancel: journaled, then sent; no new order row."""

    method: str
    params: dict[str, Any]
    future: Future[Any] = field(compare=False)
    urgent: bool = False
    expected_frames: int = 1


@dataclass(frozen=True, slots=True)
class DrainIntake:
    """Commands are waiting in the order manager's intake queue (group commit)."""


@dataclass(frozen=True, slots=True)
class ReconcileRequested:
    """Ask the reconciler for the venue's view of what changed since `since`.

    `order_ids` are Kraken ids the engine believes live (looked up with QueryOrders when the
    lists do not mention them); `cl_ord_ids` are in-flight orders without a Kraken id yet.
    """

    reason: str
    since: datetime | None
    order_ids: tuple[str, ...]
    cl_ord_ids: tuple[str, ...]
    reply_to: Any = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class VenueSnapshot:
    """The REST answer: order reports and fills, all with source `reconciliation`."""

    reason: str
    orders: tuple[OrderStatusReport, ...]
    fills: tuple[FillReport, ...]
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class ReconcileFailed:
    """Kraken's REST could not be read; the order manager records the attempt and retries
    after `retry_after_s` (long when Kraken refused the credentials: it locks out a key that
    keeps failing)."""

    reason: str
    error: str
    started_at: datetime | None = None
    retry_after_s: float = 1.0
