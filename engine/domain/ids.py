"""Identifiers we mint: WebSocket req_ids and client order ids.

Randomness stays outside: the actor passes 16 random bytes (uuid4) or an `IdFactory`; the core
only formats and checks, so every id a test sees is reproducible.
"""

from __future__ import annotations

import re
import uuid
from typing import Final, Protocol

__all__ = [
    "REQ_ID_MAX",
    "ClientOrderIdFactory",
    "ReqIdCounter",
    "is_valid_cl_ord_id",
    "new_cl_ord_id",
]

#: req_id stays a positive int32 (kraken-spot-v2 §8.1: other clients parse it as one).
REQ_ID_MAX: Final = 2**31 - 1


class ReqIdCounter:
    """Positive int32 request ids, in order, wrapping from 2**31 - 1 back to 1.

    A wrap reuses ids only after two billion requests, long after any of them could be pending.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        if not 1 <= start <= REQ_ID_MAX:
            raise ValueError(f"start must be within 1..{REQ_ID_MAX}, got {start}")
        self._next = start

    def next(self) -> int:
        value = self._next
        self._next = 1 if value >= REQ_ID_MAX else value + 1
        return value

    def peek(self) -> int:
        """The id `next()` will return, without taking it."""
        return self._next


class ClientOrderIdFactory(Protocol):
    """Makes a fresh cl_ord_id per call: the facade's uuid4, a test's sequence."""

    def __call__(self) -> str: ...


def new_cl_ord_id(uuid_bytes: bytes) -> str:
    """The 36-character UUID form of 16 random bytes, stamped as version 4.

    We mint the UUID form because it is valid on WebSocket v2 and REST alike and, unlike 18
    characters of free text, does not collide.
    """
    if len(uuid_bytes) != 16:
        raise ValueError(f"a cl_ord_id needs 16 bytes, got {len(uuid_bytes)}")
    return str(uuid.UUID(bytes=uuid_bytes, version=4))


_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEX32: Final = re.compile(r"[0-9a-fA-F]{32}")
_FREE_TEXT: Final = re.compile(r"[\x20-\x7e]{1,18}")


def is_valid_cl_ord_id(value: str) -> bool:
    """Kraken's three cl_ord_id forms: UUID with dashes, 32 hex digits, or <= 18 ASCII chars.

    Free text is limited to printable ASCII: control characters have no business in an id that
    ends up in logs and JSON.
    """
    return bool(_UUID.fullmatch(value) or _HEX32.fullmatch(value) or _FREE_TEXT.fullmatch(value))
