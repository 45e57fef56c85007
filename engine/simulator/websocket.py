"""RFC 6455 server-side framing: the handshake answer, frame encoding and a message reader.

Only what a JSON text API needs: no extensions (permessage-deflate offers are declined by not
answering them), no subprotocols. Client frames must be masked; server frames never are.
Control frames may arrive between the fragments of a message and are surfaced as they come.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from io import BufferedIOBase

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameReader",
    "ProtocolError",
    "accept_key",
    "close_payload",
    "encode_frame",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_MESSAGE = 16 * 1024 * 1024


class ProtocolError(Exception):
    """The peer broke RFC 6455; `code` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def accept_key(sec_websocket_key: str) -> str:
    """The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`."""
    digest = hashlib.sha1(sec_websocket_key.strip().encode() + _GUID).digest()
    return base64.b64encode(digest).decode()


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked server frame."""
    head = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", head, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", head, 126, length) + payload
    return struct.pack("!BBQ", head, 127, length) + payload


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()[:120]


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    # XOR via big integers: much faster in CPython than a per-byte loop.
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(data), "big")


class FrameReader:
    """Reads whole messages from a buffered binary stream.

    `read()` returns `(opcode, payload)`: a complete TEXT/BINARY message (fragments joined),
    or a single control frame (PING, PONG, CLOSE). `None` means the stream ended.
    """

    def __init__(self, stream: BufferedIOBase) -> None:
        self._stream = stream
        self._fragments: list[bytes] = []
        self._fragment_opcode: int | None = None
        self._fragment_size = 0

    def _exact(self, n: int) -> bytes | None:
        data = self._stream.read(n)
        if data is None or len(data) < n:
            return None
        return data

    def read(self) -> tuple[int, bytes] | None:
        while True:
            head = self._exact(2)
            if head is None:
                return None
            b0, b1 = head[0], head[1]
            fin = bool(b0 & 0x80)
            if b0 & 0x70:
                raise ProtocolError(1002, "reserved bits set")
            opcode = b0 & 0x0F
            masked = bool(b1 & 0x80)
            length = b1 & 0x7F
            if not masked:
                raise ProtocolError(1002, "client frames must be masked")
            if length == 126:
                ext = self._exact(2)
                if ext is None:
                    return None
                length = struct.unpack("!H", ext)[0]
            elif length == 127:
                ext = self._exact(8)
                if ext is None:
                    return None
                length = struct.unpack("!Q", ext)[0]
            if opcode >= 0x8 and (length > 125 or not fin):
                raise ProtocolError(1002, "bad control frame")
            if length > _MAX_MESSAGE:
                raise ProtocolError(1009, "message too big")
            mask = self._exact(4)
            if mask is None:
                return None
            raw = self._exact(length) if length else b""
            if raw is None:
                return None
            payload = _unmask(raw, mask)
            if opcode >= 0x8:
                if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolError(1002, "unknown control opcode")
                return opcode, payload
            if opcode == OP_CONT:
                if self._fragment_opcode is None:
                    raise ProtocolError(1002, "continuation without a message")
                self._fragments.append(payload)
                self._fragment_size += len(payload)
                if self._fragment_size > _MAX_MESSAGE:
                    raise ProtocolError(1009, "message too big")
                if fin:
                    message = b"".join(self._fragments)
                    first = self._fragment_opcode
                    self._fragments, self._fragment_opcode, self._fragment_size = [], None, 0
                    return first, message
                continue
            if opcode not in (OP_TEXT, OP_BINARY):
                raise ProtocolError(1002, "unknown data opcode")
            if self._fragment_opcode is not None:
                raise ProtocolError(1002, "new message inside a fragmented one")
            if fin:
                return opcode, payload
            self._fragment_opcode = opcode
            self._fragments = [payload]
            self._fragment_size = len(payload)
