"""Fast JSON output with exact Decimals, for the simulator's hot path.

`engine.kraken.codec.encode` walks values in Python; the simulator is the floor of every
benchmark, so it lets the C encoder do the walk instead and only formats Decimals itself:
each Decimal becomes a marked string that is then unquoted back into a bare JSON number.
The marker (a NUL byte) cannot occur in any string the simulator emits unescaped.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from engine.kraken.codec import CodecError, format_decimal

__all__ = ["dumps"]

_MARKED = re.compile(r'"\\u0000(-?[0-9.]+)\\u0000"')


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return "\x00" + format_decimal(value) + "\x00"
    raise CodecError(f"cannot encode {type(value).__name__}")


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_default)


def dumps(value: Any) -> str:
    """Compact JSON; Decimals as plain JSON numbers with every digit."""
    text = _encoder.encode(value)
    return _MARKED.sub(r"\1", text) if "\\u0000" in text else text
