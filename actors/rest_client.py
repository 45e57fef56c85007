"""Signed REST calls to Kraken over one keep-alive `requests.Session`.

Kraken wants nonce allocation and sending serialised per key (a later nonce that overtakes an
earlier one on another connection gets the earlier one refused), so one lock covers both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests

from engine.errors import TransportError, VenueProtocolError
from engine.kraken.codec import CodecError, decode
from engine.kraken.rest import build_private_request, parse_rest_envelope
from engine.kraken.signing import NonceSource

__all__ = ["RestClient"]

log = logging.getLogger("kraken_router.rest")


class RestClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self._timeout = timeout
        self._http = session or requests.Session()
        self._http.headers["User-Agent"] = "kraken-router/0.1"
        self._nonces = NonceSource(lambda: time.time_ns() // 1000)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RestClient({self._base!r})"

    def private(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call `/0/private/<method>`; returns `result` or raises a typed error."""
        with self._lock:
            prepared = build_private_request(
                method,
                params or {},
                nonce=self._nonces.next(),
                api_key=self._api_key,
                api_secret=self._api_secret,
            )
            body = self._post(prepared.path, prepared.body, prepared.headers)
        return parse_rest_envelope(body, method)

    def public(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            resp = self._http.get(
                f"{self._base}/0/public/{method}", params=dict(params or {}), timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method}: {type(exc).__name__}") from exc
        return parse_rest_envelope(self._decode(method, resp), method)

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: str, headers: Mapping[str, str]) -> dict[str, Any]:
        try:
            resp = self._http.post(
                f"{self._base}{path}", data=body, headers=dict(headers), timeout=self._timeout
            )
        except requests.RequestException as exc:
            # never include the request itself: its headers carry the signature
            raise TransportError(f"{path}: {type(exc).__name__}") from exc
        return self._decode(path, resp)

    @staticmethod
    def _decode(what: str, resp: requests.Response) -> dict[str, Any]:
        if resp.status_code != 200:
            raise TransportError(f"{what}: HTTP {resp.status_code}")
        try:
            return decode(resp.content)
        except CodecError as exc:
            raise VenueProtocolError(f"{what}: {exc}") from exc
