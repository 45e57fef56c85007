"""Kraken's error strings (§7.10) sorted by what the engine must do next.

The split that matters is "nothing happened" versus "something may have happened": an order
refused with `EOrder:Insufficient funds` is settled, one answered with `EService:Unavailable`
may be live and must be reconciled before anything is resent. Unknown strings count as
definitive rejections, because Kraken only sends an error after deciding not to act; the
ambiguous cases are the few listed here.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = [
    "ErrorKind",
    "classify_error",
    "is_rate_limit",
    "needs_confirmation",
    "throttled_until",
]


class ErrorKind(Enum):
    """What a caller should do about one Kraken error string."""

    REJECTED = "rejected"  # definitive: nothing happened; do not retry as is
    RATE_LIMITED = "rate_limited"  # definitive, but back off (REST, trading or message rate)
    INVALID_TOKEN = "invalid_token"  # mint a new WS token, resubscribe, report as refused
    AMBIGUOUS = "ambiguous"  # may have happened: reconcile before any resend
    RETRYABLE = "retryable"  # not processed; safe to retry (after fixing nonce / waiting)
    FATAL = "fatal"  # configuration or account problem; stop and tell the operator


_EXACT: dict[str, ErrorKind] = {
    "ESession:Invalid session": ErrorKind.INVALID_TOKEN,
    "EAPI:Invalid token": ErrorKind.INVALID_TOKEN,
    "EAPI:Rate limit exceeded": ErrorKind.RATE_LIMITED,
    "EOrder:Rate limit exceeded": ErrorKind.RATE_LIMITED,
    "EOrder:Domain rate limit exceeded": ErrorKind.RATE_LIMITED,
    "Exceeded msg rate": ErrorKind.RATE_LIMITED,
    "EService:Unavailable": ErrorKind.AMBIGUOUS,
    "EService:Busy": ErrorKind.AMBIGUOUS,
    "EAPI:Invalid nonce": ErrorKind.RETRYABLE,
    "EGeneral:Permission denied": ErrorKind.FATAL,
    "EGeneral:Temporary lockout": ErrorKind.FATAL,
    "EAPI:Invalid key": ErrorKind.FATAL,
    "EAPI:Invalid signature": ErrorKind.FATAL,
    "EAccount:Invalid permissions": ErrorKind.FATAL,
}
# Prefixes for strings that carry a variable tail (`:<code>`, `: <timestamp>`, ...).
_PREFIXES: tuple[tuple[str, ErrorKind], ...] = (
    ("EGeneral:Internal error", ErrorKind.AMBIGUOUS),
    ("EService:Throttled", ErrorKind.RETRYABLE),
    ("EAuth:", ErrorKind.FATAL),
)
_THROTTLED = re.compile(r"EService:Throttled:\s*(\d+)")


def _first(error: str) -> str:
    # REST errors arrive as a list that callers may have joined; the first one decides.
    return error.split(";", 1)[0].strip()


def classify_error(error: str) -> ErrorKind:
    """Classify one Kraken error string (WS `error`, or one REST `error[]` element)."""
    text = _first(error)
    kind = _EXACT.get(text)
    if kind is not None:
        return kind
    for prefix, prefix_kind in _PREFIXES:
        if text.startswith(prefix):
            return prefix_kind
    return ErrorKind.REJECTED


def needs_confirmation(error: str) -> bool:
    """True for rejections Kraken reports before it is sure nothing matched.

    `EService:Deadline elapsed` means the engine will not match after the deadline, but the
    request and the deadline race inside Kraken: confirm on executions before a resend (§7.10).
    """
    text = _first(error)
    return text == "EService:Deadline elapsed" or classify_error(text) is ErrorKind.AMBIGUOUS


def is_rate_limit(error: str) -> bool:
    return classify_error(error) is ErrorKind.RATE_LIMITED


def throttled_until(error: str) -> int | None:
    """The unix time carried by `EService:Throttled: <ts>`, after which a retry may go."""
    match = _THROTTLED.match(_first(error))
    return int(match.group(1)) if match else None
