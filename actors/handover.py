"""Handing a request to an actor without a thread hop when the actor is free.

The connection's `Wire` and the rate limiter's `Gate` both let a sender act on the actor's
state from the sender's own thread, under the actor's lock, whenever it is free: a hop to the
actor's thread (a wake-up and a GIL hand-over) cost a tenth of a millisecond or more of every
round trip here. Requests always pass through a backlog, so that those that meet the actor busy
keep their order: whoever holds the lock next, the actor or a later sender, sends them on.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import pykka

__all__ = ["hand_over"]


def hand_over(
    ref: pykka.ActorRef[Any],
    backlog: deque[Any],
    item: Any,
    try_now: Callable[[], bool],
    nudge: Any,
) -> None:
    """Leave `item` in `backlog` and let `try_now` (which only ever *tries* the actor's lock)
    drain it here; when it cannot, tell the actor `nudge` so that it drains it when it runs.

    Raises `pykka.ActorDeadError` when the actor is gone, with `item` taken back out: the
    sender reports it unsent, so it must not also leave from the backlog.
    """
    if not ref.is_alive():
        raise pykka.ActorDeadError(f"{ref} not found")
    backlog.append(item)
    if try_now():
        return
    try:
        ref.tell(nudge)
    except pykka.ActorDeadError:
        with contextlib.suppress(ValueError):
            backlog.remove(item)
        raise
