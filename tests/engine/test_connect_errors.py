"""`Engine.connect()` says why it could not connect: credentials Kraken refuses fail at once,
and are not retried at the backoff's pace (Kraken locks out a key that keeps failing)."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from engine_support import engine_config

from engine import Engine
from engine.errors import ConfigError, CredentialsRefused, TransportError, VenueRejection
from engine.simulator import Simulator


@pytest.mark.parametrize(
    ("credentials", "error"),
    [
        ({"api_secret": base64.b64encode(b"s" * 64).decode()}, "EAPI:Invalid signature"),
        ({"api_key": "a key Kraken never issued"}, "EAPI:Invalid key"),
    ],
    ids=["wrong secret", "unknown key"],
)
def test_refused_credentials_fail_connect_at_once_and_the_retry_waits(
    sim: Simulator, tmp_path: Path, credentials: dict[str, str], error: str
) -> None:
    retries: list[dict[str, Any]] = []
    retried = threading.Event()

    def on_reconnecting(event: Any) -> None:
        retries.append(event.data)
        retried.set()

    with Engine(engine_config(sim, tmp_path, **credentials)) as engine:
        engine.on("reconnecting", on_reconnecting)
        # a generous timeout: only the first refusal, not the timeout, can end it in time
        with pytest.raises(CredentialsRefused) as refused:
            engine.connect(timeout=60)
        assert retried.wait(timeout=10)
        assert engine.connection_status()["state"] == "waiting"
    assert refused.value.error == error
    assert isinstance(refused.value, ConfigError) and isinstance(refused.value, VenueRejection)
    assert "api_key" in str(refused.value)
    assert retries[0]["in_s"] >= 60  # not the backoff's quarter of a second
    assert isinstance(retries[0]["error"], CredentialsRefused)


def test_a_connect_that_times_out_says_why_the_last_attempt_failed(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Simulator() as sim:
        config = engine_config(
            sim, tmp_path, ws_url=f"ws://127.0.0.1:{port}/v2", rest_url=f"http://127.0.0.1:{port}"
        )
    with Engine(config) as engine, pytest.raises(TransportError) as failed:
        engine.connect(timeout=2)
    assert "the last attempt: /0/private/GetWebSocketsToken: ConnectionError" in str(failed.value)
