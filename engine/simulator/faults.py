"""Fault knobs: counters the transports consume, and a tally of how often each fired.

Chaos tests configure a knob, run, then assert from `fired` that the fault really happened,
so a test can never pass by accident because its fault was never exercised. The exchange's
lock guards this object; the methods here do not lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FAULT_NAMES", "Faults"]

FAULT_NAMES = (
    "drop_connections",
    "drop_after",
    "delay_responses",
    "swallow_responses",
    "refuse_connections",
    "refuse_token_requests",
    "fail_requests",
    "fail_rest_queries",
    "duplicate_next_execution",
    "lose_next_execution",
    "send_malformed_frame",
)


@dataclass(slots=True)
class Faults:
    drop_after: int | None = None  # frames still to send before dropping every connection
    delay_s: float = 0.0
    swallow: int = 0
    refuse_connections: int = 0
    refuse_tokens: int = 0
    fail: int = 0
    fail_error: str = "EService:Unavailable"
    fail_transport: str = "ws"
    fail_queries: int = 0  # private REST calls that are neither trading nor the token
    fail_queries_error: str = "EService:Unavailable"
    duplicate_next: int = 0
    lose_next: int = 0
    fired: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_NAMES, 0))

    def reset(self) -> None:
        """Disarm every knob; the fired tally is kept (tests read it afterwards)."""
        self.drop_after = None
        self.delay_s = 0.0
        self.swallow = 0
        self.refuse_connections = 0
        self.refuse_tokens = 0
        self.fail = 0
        self.fail_queries = 0
        self.duplicate_next = 0
        self.lose_next = 0

    def take(self, name: str) -> bool:
        """Consume one shot of a counting knob; True (and tallied) when it fires."""
        attr = {
            "swallow_responses": "swallow",
            "refuse_connections": "refuse_connections",
            "refuse_token_requests": "refuse_tokens",
            "duplicate_next_execution": "duplicate_next",
            "lose_next_execution": "lose_next",
        }[name]
        if getattr(self, attr) > 0:
            setattr(self, attr, getattr(self, attr) - 1)
            self.fired[name] += 1
            return True
        return False

    def take_failure(self, transport: str) -> str | None:
        """The injected error string for the next trading request on `transport`, if any."""
        if self.fail > 0 and self.fail_transport in (transport, "both"):
            self.fail -= 1
            self.fired["fail_requests"] += 1
            return self.fail_error
        return None

    def take_query_failure(self) -> str | None:
        """The injected error for the next private REST query (OpenOrders, ClosedOrders,
        QueryOrders, TradesHistory...: what reconciliation reads), if any."""
        if self.fail_queries > 0:
            self.fail_queries -= 1
            self.fired["fail_rest_queries"] += 1
            return self.fail_queries_error
        return None

    def count_frame(self) -> bool:
        """Count one server frame; True when `drop_after` runs out with this frame."""
        if self.drop_after is None:
            return False
        self.drop_after -= 1
        if self.drop_after <= 0:
            self.drop_after = None
            self.fired["drop_after"] += 1
            return True
        return False
