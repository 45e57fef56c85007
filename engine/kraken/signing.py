"""Kraken REST request signing (HMAC-SHA512 over the path and SHA256(nonce + body)).

Shared by the engine's REST client and the simulator, so the two can never drift apart.
The nonce source is pure: it is handed the time rather than reading a clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

__all__ = ["NonceSource", "kraken_sign"]


def kraken_sign(uri_path: str, nonce: int | str, postdata: str, secret_b64: str) -> str:
    """Return the `API-Sign` header value for one private REST request.

    `postdata` must be the exact body bytes sent (form-encoded or JSON text), and `uri_path`
    starts at `/0/private/`.
    """
    inner = hashlib.sha256((str(nonce) + postdata).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_b64), uri_path.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


class NonceSource:
    """Strictly increasing nonces: max(time in microseconds, last + 1).

    Time-based so that a restarted process never goes backwards; the `+1` keeps nonces unique
    when several are drawn within one microsecond or the wall clock steps back. Not locked:
    Kraken needs nonce allocation and sending serialised per key anyway, so the REST client
    holds one lock around both.
    """

    def __init__(self, now_us: Callable[[], int], last: int = 0) -> None:
        self._now_us = now_us
        self._last = last

    def next(self) -> int:
        self._last = max(self._now_us(), self._last + 1)
        return self._last
