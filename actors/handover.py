"""Handing a request to an actor without a thread hop when the actor is free.

The connection's `wire` and the rate limiter's `gate` (each a `Door`) let a sender act on the
actor's state from the sender's own thread, under the actor's lock, whenever it is free: a hop
to the actor's thread (a wake-up and a GIL hand-over) cost a tenth of a millisecond or more of
every round trip here. Requests always pass through a backlog, so that those that meet the actor
busy keep their order: whoever holds the lock next, the actor or a later sender, sends them on.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pykka

from actors.messages import SendRequest

__all__ = ["Door", "hand_over"]


def hand_over(
    ref: pykka.ActorRef[Any],
    backlog: deque[Any],
    items: Sequence[Any],
    try_now: Callable[[], bool],
    nudge: Any,
) -> None:
    """Leave `items` in `backlog` and let `try_now` (which only ever *tries* the actor's lock)
    drain them here; when it cannot, tell the actor `nudge` so that it drains them when it runs.

    Raises `pykka.ActorDeadError` when the actor is gone, with `items` taken back out: the
    sender reports them unsent, so they must not also leave from the backlog.
    """
    if not ref.is_alive():
        raise pykka.ActorDeadError(f"{ref} not found")
    backlog.extend(items)
    if try_now():
        return
    try:
        ref.tell(nudge)
    except pykka.ActorDeadError:
        for item in items:
            with contextlib.suppress(ValueError):
                backlog.remove(item)
        raise


class Door:
    """An actor as its hot senders see it: `tell` a `SendRequest` and `try_now` handles it on
    the sender's own thread while the actor is free (the actor's thread otherwise, when it is
    told `nudge`), in the order told. Anything else is told to the actor. Raises
    `pykka.ActorDeadError` like a ref."""

    def __init__(
        self, actor: pykka.Actor, backlog: deque[Any], try_now: Callable[[], bool], nudge: Any
    ) -> None:
        self._actor = actor
        self._backlog = backlog
        self._try_now = try_now
        self._nudge = nudge

    def tell(self, message: Any) -> None:
        ref = self._actor.actor_ref
        if not isinstance(message, SendRequest):
            ref.tell(message)
            return
        self.tell_many((message,))

    def tell_many(self, requests: Sequence[SendRequest]) -> None:
        """Several requests in one hand-over, so that the actor can send them together (a
        system call each released the GIL, and under load the sender waited to win it back)."""
        hand_over(self._actor.actor_ref, self._backlog, requests, self._try_now, self._nudge)
