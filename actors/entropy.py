"""Random bytes from `os.urandom`, drawn 4 KiB at a time instead of a few bytes a call.

Each `os.urandom` call is a system call, and a system call releases the GIL: under load the
calling thread then waits to win it back from the engine's busy threads (42 us a call on the
connection's thread, cProfile, 16 threads with 32 orders in flight), and its request for it
makes the busy thread hand it over. websocket-client draws every frame's masking key with
`os.urandom(4)`, and the facade every order's `cl_ord_id` with `uuid.uuid4()`. The bytes stay as
unpredictable as RFC 6455 (masking keys) and RFC 4122 (version 4 ids) ask: the same source,
drawn ahead.
"""

from __future__ import annotations

import os
import threading

__all__ = ["RandomBytes"]


class RandomBytes:
    """`RandomBytes()(n)`: n bytes from the operating system's random source; thread-safe."""

    _POOL = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def __call__(self, length: int) -> bytes:
        with self._lock:  # callers on several threads: no byte is ever handed out twice
            if self._at + length > len(self._pool):
                self._pool = os.urandom(max(self._POOL, length))
                self._at = 0
            start = self._at
            self._at = start + length
            return self._pool[start : self._at]
