"""The transport's frame reader on a real socket pair: every frame as websocket-client reads it.

The reader takes a whole text frame from its buffer in place and leaves everything else to
websocket-client; these tests feed it what a server may send, cut at every kind of boundary.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Iterator

import pytest
import websocket

from actors.entropy import RandomBytes
from actors.transport import _BufferedWebSocket


def _frame(payload: bytes, *, fin: bool = True, opcode: int = 1) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = bytes([first, n])
    elif n < 65536:
        header = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, 127]) + n.to_bytes(8, "big")
    return header + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, _BufferedWebSocket]]:
    server, client = socket.socketpair()
    ws = _BufferedWebSocket(skip_utf8_validation=True, enable_multithread=True)
    ws.sock = client
    ws.connected = True
    yield server, ws
    server.close()
    client.close()


def _send_in_pieces(server: socket.socket, data: bytes, seed: int) -> threading.Thread:
    rng = random.Random(seed)

    def dribble() -> None:
        at = 0
        while at < len(data):
            size = rng.choice([1, 2, 3, 9, 130, 1000, 70_000])
            server.sendall(data[at : at + size])
            at += size

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_message_arrives_whole_whatever_the_reads_cut(
    pair: tuple[socket.socket, _BufferedWebSocket], seed: int
) -> None:
    server, ws = pair
    rng = random.Random(seed)
    # lengths at each header form's edges: 7-bit, 16-bit and 64-bit lengths
    sizes = [0, 1, 100, 125, 126, 127, 65_535, 65_536, 70_000]
    messages = [
        json.dumps({"channel": "executions", "n": i, "text": "é" + "x" * rng.choice(sizes)})
        for i in range(300)
    ]
    wire = bytearray()
    for i, message in enumerate(messages):
        payload = message.encode()
        if i % 17 == 0:
            wire += _frame(b"ping", opcode=0x9)  # websocket-client answers it and reads on
        if i % 23 == 0:
            # a fragmented message: a text frame without FIN, then a continuation
            wire += _frame(payload[:7], fin=False) + _frame(payload[7:], opcode=0x0)
        elif i % 29 == 0:
            wire += _frame(payload, opcode=0x2)  # binary: read as UTF-8 text
        else:
            wire += _frame(payload)
    writer = _send_in_pieces(server, bytes(wire), seed)

    received = [ws.next_text() for _ in messages]

    writer.join(timeout=10)
    assert received == messages  # binary frames too, as text


def test_a_frame_that_arrives_alone_is_taken_in_place(
    pair: tuple[socket.socket, _BufferedWebSocket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a closed loop each frame comes alone, into an empty buffer: it is read and taken in
    place (websocket-client's frame parser costs 5 us more a frame), and the end of the socket
    still ends the reading."""
    server, ws = pair
    taken_by_websocket_client = []
    parse = ws.recv_data

    def recv_data() -> tuple[int, bytes]:
        taken_by_websocket_client.append(1)
        return parse()  # type: ignore[no-any-return]

    monkeypatch.setattr(ws, "recv_data", recv_data)
    for n in range(3):
        server.sendall(_frame(json.dumps({"n": n, "pad": "x" * 300}).encode()))
        assert json.loads(ws.next_text() or "")["n"] == n
    assert taken_by_websocket_client == []
    server.close()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        ws.next_text()


def test_a_masked_frame_goes_websocket_clients_way(
    pair: tuple[socket.socket, _BufferedWebSocket],
) -> None:
    """A server must not mask; if one did, the payload is unmasked, not read as it stands."""
    server, ws = pair
    payload = b'{"channel":"heartbeat"}'
    key = bytes([1, 2, 3, 4])
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    server.sendall(bytes([0x81, 0x80 | len(payload)]) + key + masked + _frame(b'{"n":2}'))
    assert ws.next_text() == payload.decode()
    assert ws.next_text() == '{"n":2}'


def test_an_empty_message_is_not_taken_for_the_end_of_the_socket(
    pair: tuple[socket.socket, _BufferedWebSocket],
) -> None:
    """websocket-client's `recv` gives "" for both; the reader stopped at the first."""
    server, ws = pair
    close = _frame((1000).to_bytes(2, "big"), opcode=0x8)
    server.sendall(_frame(b"") + _frame(b'{"n":1}') + close)
    assert ws.next_text() == ""
    assert ws.next_text() == '{"n":1}'
    assert ws.next_text() is None


def test_masking_keys_are_drawn_ahead_and_never_repeat() -> None:
    keys = RandomBytes()
    drawn = [keys(4) for _ in range(3_000)]  # across two refills of the pool
    assert all(len(key) == 4 for key in drawn)
    assert len(set(drawn)) > 2_990  # 32 random bits each: a repeat or two is chance, not reuse
    assert len(keys(5_000)) == 5_000  # a request larger than the pool is served whole


def _read_client_frames(data: bytes) -> list[str]:
    """Unmask the frames a client wrote (RFC 6455 5.2, 5.3)."""
    texts, at = [], 0
    while at < len(data):
        assert data[at] == 0x81 and data[at + 1] & 0x80  # final text frames, masked
        length, at = data[at + 1] & 0x7F, at + 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        key, at = data[at : at + 4], at + 4
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[at : at + length]))
        texts.append(payload.decode())
        at += length
    return texts


def test_frames_written_together_arrive_as_frames_of_their_own(
    pair: tuple[socket.socket, _BufferedWebSocket],
) -> None:
    server, ws = pair
    texts = ['{"n":1}', "é" * 200, "x" * 70_000, ""]
    reader = threading.Thread(target=lambda: received.extend(_recv_all(server)), daemon=True)
    received: list[bytes] = []
    reader.start()
    ws.send_texts(texts)
    ws.sock.shutdown(socket.SHUT_WR)
    reader.join(timeout=10)
    assert _read_client_frames(b"".join(received)) == texts


def _recv_all(server: socket.socket) -> list[bytes]:
    chunks = []
    while chunk := server.recv(65536):
        chunks.append(chunk)
    return chunks
