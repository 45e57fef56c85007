"""The WebSocket transport: a websocket-client socket plus a reader thread that only tells.

The reader thread never touches the connection actor's state: every frame becomes a
`FrameReceived` message and the end of the socket a `SocketClosed`, both tagged with the session
number so that frames of an old socket can be told apart from the current one.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import websocket

from actors.entropy import RandomBytes
from actors.messages import FrameReceived, SocketClosed
from engine.errors import TransportError

__all__ = ["WebSocketTransport"]

log = logging.getLogger("kraken_router.transport")


class _Tellable(Protocol):
    def tell(self, message: Any) -> None: ...


_FINAL_TEXT = 0x81  # FIN, no extension bits, opcode 1 (text)


class _BufferedWebSocket(websocket.WebSocket):
    """websocket-client reads each frame's header, length and payload with separate socket
    reads of the exact size: three system calls per frame, each a release and a re-take of the
    GIL. This reads whatever has arrived (up to 64 KiB) once and serves the frame parser from
    it; the handshake reads the socket directly, byte by byte, so nothing is read ahead."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffer = b""
        self._at = 0

    def _recv(self, bufsize: int) -> bytes:
        if self._at >= len(self._buffer):
            self._buffer = super()._recv(65536)  # type: ignore[no-untyped-call]  # raises at the end
            self._at = 0
        start = self._at
        self._at = min(start + bufsize, len(self._buffer))
        return self._buffer[start : self._at]

    def next_text(self) -> str | None:
        """The next message as text; None once the server has closed the socket.

        websocket-client's `recv` gives "" for a close frame and for an empty message alike;
        this tells them apart. A whole text frame already in the buffer is taken from it in
        place: nearly every frame Kraken sends is one (final, unmasked, not fragmented), and
        websocket-client spends some twenty Python calls on each (header, length, payload, a
        frame object, the fragment bookkeeping), on the reader thread that the answers wait
        for: 7 us a 300-byte frame here, against 1.5 us in place (20,000 frames through a
        socket pair; an order brings three). Anything else (a frame not yet all here, a
        control or binary frame, a fragment, a masked frame) goes websocket-client's way.
        """
        with self.readlock:  # as websocket-client's own recv: close() reads frames too
            text = self._whole_text_frame()
            if text is None and self._at >= len(self._buffer):
                # nothing buffered, as for nearly every frame of a closed loop (each comes
                # alone): read first, so that a frame arriving whole is taken in place too.
                # 3.3-3.6 us a lone frame instead of 8.1-8.5 us (2026-12-04, a socket pair);
                # it raises at the end of the socket, as websocket-client's read did
                self._buffer = super()._recv(65536)  # type: ignore[no-untyped-call]
                self._at = 0
                text = self._whole_text_frame()
            if text is not None:
                return text
            opcode, data = self.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return bytes(data).decode("utf-8")
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return bytes(data).decode("utf-8", errors="replace")
        return None  # the close frame (websocket-client has answered it)

    def send_texts(self, texts: Sequence[str]) -> None:
        """Text frames in one write, as websocket-client's `send` writes one (`send_frame`)."""
        frames = []
        for text in texts:
            frame = websocket.ABNF.create_frame(text, websocket.ABNF.OPCODE_TEXT)
            if self.get_mask_key:
                frame.get_mask_key = self.get_mask_key
            frames.append(frame.format())
        data = b"".join(frames)
        with self.lock:
            while data:
                sent = self._send(data)  # type: ignore[no-untyped-call]
                data = data[sent:]

    def _whole_text_frame(self) -> str | None:
        buffer, at = self._buffer, self._at
        if (
            len(buffer) - at >= 2
            and buffer[at] == _FINAL_TEXT
            and buffer[at + 1] < 0x80  # not masked (a server never masks; one that did: below)
            and self.cont_frame.cont_data is None
        ):
            length = buffer[at + 1]
            start = at + 2
            if length == 126:
                start = at + 4
                length = int.from_bytes(buffer[at + 2 : start], "big")
            elif length == 127:
                start = at + 10
                length = int.from_bytes(buffer[at + 2 : start], "big")
            end = start + length
            if end <= len(buffer):
                self._at = end
                return buffer[start:end].decode("utf-8")
        return None


class WebSocketTransport:
    def __init__(self, url: str, session_no: int, target: _Tellable, connect_timeout: float):
        self.session_no = session_no
        self._url = url
        self._target = target
        self._connect_timeout = connect_timeout
        self._ws: _BufferedWebSocket | None = None
        self._closed = threading.Event()
        self._reader_done = False

    def open(self) -> None:
        """Connect and start the reader thread; raises `TransportError` on failure."""
        try:
            ws = websocket.create_connection(
                self._url,
                timeout=self._connect_timeout,
                class_=_BufferedWebSocket,
                enable_multithread=True,
                sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
                # websocket-client checks UTF-8 byte by byte in Python (7% of the engine's CPU
                # at 500 orders/s); `recv` decodes text frames with bytes.decode, which checks
                # the same thing in C and raises on a bad frame
                skip_utf8_validation=True,
            )
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(f"cannot connect to {self._url}: {exc}") from exc
        ws.settimeout(None)  # liveness is judged by the actor's clock, not by recv timeouts
        assert isinstance(ws, _BufferedWebSocket)  # create_connection made it (class_)
        # each frame's masking key from a pool, not a system call a frame (actors.entropy);
        # `set_mask_key` does this assignment, but is untyped
        ws.get_mask_key = RandomBytes()
        self._ws = ws
        threading.Thread(
            target=self._read, name=f"kraken-ws-reader-{self.session_no}", daemon=True
        ).start()

    @property
    def is_open(self) -> bool:
        """False once closed here or once the reader saw the end (before it says so)."""
        return not self._reader_done and not self._closed.is_set()

    def send(self, texts: Sequence[str]) -> None:
        """Text frames, several in one system call (each call released the GIL, and under load
        the sender waited to win it back)."""
        ws = self._ws
        if ws is None or self._closed.is_set():
            raise TransportError("socket is closed")
        try:
            ws.send_texts(texts)
        except (OSError, websocket.WebSocketException) as exc:
            raise TransportError(f"send failed: {exc}") from exc

    def close(self) -> None:
        self._closed.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:  # closing a broken socket may fail; it is closed either way
                log.debug("close of session %d raised", self.session_no, exc_info=True)

    def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        reason = "closed by peer"
        try:
            while not self._closed.is_set():
                text = ws.next_text()
                if text is None:
                    break
                self._target.tell(FrameReceived(self.session_no, text))
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._reader_done = True
            # if the actor is already stopped there is nobody left to tell
            with contextlib.suppress(Exception):
                self._target.tell(SocketClosed(self.session_no, reason))
