"""Responses the engine builds on top of Kraken's own frames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.kraken.envelope import MethodResponse

__all__ = ["MultiFrameResponse"]


@dataclass(frozen=True, slots=True)
class MultiFrameResponse:
    """`cancel_order` with several ids: Kraken answers one frame per id, all with one req_id.

    `results` holds every frame in arrival order; a partial failure never raises, each frame
    carries its own `success` and `error`. `success` is True only when every id succeeded and
    every expected frame arrived (`complete`).
    """

    method: str
    req_id: int
    results: tuple[MethodResponse, ...]
    expected: int

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.expected

    @property
    def success(self) -> bool:
        return self.complete and all(r.success for r in self.results)

    @property
    def time_in(self) -> datetime | None:
        return self.results[0].time_in if self.results else None

    @property
    def time_out(self) -> datetime | None:
        return self.results[-1].time_out if self.results else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "req_id": self.req_id,
            "success": self.success,
            "results": [r.to_dict() for r in self.results],
        }
