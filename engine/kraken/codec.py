"""JSON text <-> Python values with `Decimal` kept exact in both directions.

Kraken's WebSocket v2 sends prices and quantities as JSON numbers carrying the engine's
precision; a float would silently round them. Inbound numbers with a fraction or an
exponent become `Decimal`; outbound `Decimal`s are written as plain JSON numbers with every
digit (never in exponent form, which Kraken does not document as accepted).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["CodecError", "decode", "encode", "format_decimal"]

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined,unused-ignore]


class CodecError(ValueError):
    """The text is not a JSON object, or a value cannot be written as JSON."""


# one decoder for every frame: `json.loads(text, parse_float=...)` builds a new one per call
_DECODER = json.JSONDecoder(parse_float=Decimal)
_WHITESPACE = " \t\n\r"


def decode(text: str | bytes) -> dict[str, Any]:
    """Parse one frame; JSON floats become `Decimal`."""
    try:
        if not isinstance(text, str):
            text = text.decode("utf-8")
        # raw_decode, not decode: decode's two whitespace regexes cost as much as parsing a
        # short frame; the same text is refused (leading or trailing garbage included)
        if text[:1] in _WHITESPACE:
            text = text.lstrip(_WHITESPACE)
        value, end = _DECODER.raw_decode(text)
        if end != len(text) and text[end:].strip(_WHITESPACE):
            raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"malformed JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CodecError(f"expected a JSON object, got {type(value).__name__}")
    return value


def format_decimal(value: Decimal) -> str:
    """Plain positional notation with every significant digit: `Decimal('1E+2')` -> `100`."""
    text = str(value)  # the same text as format(value, "f") whenever it has no exponent
    if "E" in text or not value.is_finite():
        if not value.is_finite():
            raise CodecError(f"cannot encode non-finite number {value}")
        text = format(value, "f")
    return "0" if text in ("-0", "-0.0") else text


def encode(value: Any) -> str:
    """Serialise to compact JSON; `Decimal` is written as a JSON number, floats are refused."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        out.append(format_decimal(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise CodecError(f"object keys must be strings, got {key!r}")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise CodecError("floats are refused: money travels as Decimal")
    else:
        raise CodecError(f"cannot encode {type(value).__name__}")
