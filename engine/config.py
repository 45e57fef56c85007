"""Engine configuration: one frozen value, built in code or from the environment.

Settings are read when `EngineConfig.from_env()` is called, never at import time. The API secret
is kept out of `repr`, so a config can be logged or printed safely.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError

__all__ = ["EngineConfig"]

KRAKEN_WS_URL = "wss://ws-auth.kraken.com/v2"
KRAKEN_REST_URL = "https://api.kraken.com"
DEFAULT_DATABASE_URL = "sqlite:///kraken-orders.db"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything an `Engine` needs. Only `api_key` and `api_secret` are required.

    Attributes:
        api_key: Kraken API key (public part).
        api_secret: Kraken API secret (base64); never logged, persisted or printed.
        ws_url: Kraken's authenticated WebSocket v2 endpoint.
        rest_url: Kraken's REST base URL (tokens and reconciliation go over REST).
        database_url: any SQLAlchemy URL; SQLite by default.
        request_timeout: seconds after sending until a request's outcome is unknown.
        dead_mans_switch_timeout: seconds passed to `cancel_all_orders_after`; 0 disables.
        dead_mans_switch_interval: seconds between automatic re-arms.
        attach_default_listeners: log open/authenticated/reconnecting/... events.
        account: the account's name in the database and for per-account state; defaults to a
            short digest of the API key, so the key itself is not spread around.
        order_deadline: seconds after sending past which Kraken must not match an add_order
            or batch_add (Kraken accepts 0.5 to 60), stamped from the venue clock as estimated
            from responses' `time_out`; None sends no deadline. An order stuck in transit can
            then never execute late, and reconciliation can conclude "never placed".
        auto_upgrade_database: upgrade an older SQLite database at start; False refuses.
        sqlite_synchronous: `NORMAL` (survives a process crash) or `FULL` (survives power loss).
        ping_interval: seconds between application pings (Kraken closes idle sockets at ~60 s).
        liveness_timeout: seconds without any frame after which the connection is dead.
        reconnect_base_delay / reconnect_max_delay: backoff after the first, immediate retry.
        connect_timeout: seconds for the token request and the WebSocket handshake.
        rest_lag_s: how far REST may lag the socket; an order sent without an answer is
            concluded never placed only this long after its deadline (or request_timeout).
        rate_limit_tier: the account's Kraken verification tier (`starter`, `intermediate`,
            `pro`), which sets the per-pair trading counter the engine stays under; requests
            that would overflow it wait (at most request_timeout). `unlimited` turns it off.
        instruments_refresh_s: seconds between reloads of the pairs' rules (AssetPairs).
        heartbeat_interval: seconds between the run's heartbeats in the database, which the
            operator's `status` and `shutdown` read to tell a live engine from a dead one.
        instrument_checks: refuse locally what the pair's rules forbid (tick, ordermin,
            lot decimals, costmin, status); False leaves every such refusal to Kraken.
        freeze_gc_at_start: once started, move every object alive in the process into
            CPython's permanent generation (`gc.freeze()`), so that a full collection scans only
            what the run creates. A full collection over the libraries the engine imports
            took 50-110 ms here, a pause of every thread, i.e. the engine's longest stall at
            500 orders/s. Cyclic garbage among the frozen objects is never reclaimed; objects
            freed by reference counting are freed as usual.
        caller_headstart_s: after an answer, how long the order manager waits for the answered
            caller's next order before it applies the answer and its reports (never when a
            fill is among them). A closed loop's next order then goes out before that
            transaction instead of behind it; the price is that, when no order follows, the
            answer's row and `order` events come up to this much later. 0 applies at once.
        max_orders_per_commit: the most commands (orders, cancels, amends...) waiting in the
            intake that the order manager records in one transaction before sending them
            (1..512). A burst from many threads is committed as one group, which is what keeps
            the order manager ahead under load; 1 commits every order alone (a smaller bound
            only caps how long the first order of a burst waits for the rest of its group).
    """

    api_key: str
    api_secret: str = field(repr=False)
    ws_url: str = KRAKEN_WS_URL
    rest_url: str = KRAKEN_REST_URL
    database_url: str = DEFAULT_DATABASE_URL
    request_timeout: float = 10.0
    dead_mans_switch_timeout: int = 60
    dead_mans_switch_interval: float = 20.0
    attach_default_listeners: bool = True
    account: str = ""
    order_deadline: float | None = 5.0
    auto_upgrade_database: bool = True
    sqlite_synchronous: str = "NORMAL"
    ping_interval: float = 10.0
    liveness_timeout: float = 30.0
    reconnect_base_delay: float = 0.25
    reconnect_max_delay: float = 10.0
    connect_timeout: float = 10.0
    rest_lag_s: float = 10.0
    rate_limit_tier: str = "starter"
    instruments_refresh_s: float = 86400.0
    heartbeat_interval: float = 2.0
    instrument_checks: bool = True
    freeze_gc_at_start: bool = True
    caller_headstart_s: float = 0.0005
    max_orders_per_commit: int = 512

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ConfigError("api_key is required")
        if not self.api_secret:
            raise ConfigError("api_secret is required")
        try:
            base64.b64decode(self.api_secret)  # as the signer reads it
        except (binascii.Error, ValueError):
            # the secret itself is never in the message
            raise ConfigError(
                "api_secret is not base64: Kraken's private key is the base64 text shown "
                "when the key was created"
            ) from None
        if self.request_timeout <= 0:
            raise ConfigError("request_timeout must be positive")
        if not 0 <= self.dead_mans_switch_timeout < 86400:
            raise ConfigError("dead_mans_switch_timeout must be in 0..86399 seconds")
        if self.dead_mans_switch_timeout and not (
            0 < self.dead_mans_switch_interval < self.dead_mans_switch_timeout
        ):
            raise ConfigError(
                "dead_mans_switch_interval must be positive and shorter than the timeout"
            )
        if self.order_deadline is not None and not 0.5 <= self.order_deadline <= 60:
            raise ConfigError("order_deadline must be within Kraken's 0.5..60 seconds")
        if self.sqlite_synchronous.upper() not in ("NORMAL", "FULL"):
            raise ConfigError("sqlite_synchronous must be NORMAL or FULL")
        if self.rate_limit_tier not in ("starter", "intermediate", "pro", "unlimited"):
            raise ConfigError("rate_limit_tier must be starter, intermediate, pro or unlimited")
        if self.instruments_refresh_s <= 0:
            raise ConfigError("instruments_refresh_s must be positive")
        if not 0 <= self.caller_headstart_s <= 0.01:
            raise ConfigError("caller_headstart_s must be within 0..0.01 seconds")
        if not 1 <= self.max_orders_per_commit <= 512:
            raise ConfigError("max_orders_per_commit must be within 1..512")
        if not self.account:
            digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:12]
            object.__setattr__(self, "account", f"key-{digest}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> EngineConfig:
        """Build from `KRAKEN_<FIELD>` variables (e.g. KRAKEN_API_KEY, KRAKEN_DATABASE_URL)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"KRAKEN_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.default, raw)
        values.update(overrides)
        if "api_key" not in values or "api_secret" not in values:
            raise ConfigError("KRAKEN_API_KEY and KRAKEN_API_SECRET must be set")
        return cls(**values)


def _coerce(name: str, default: Any, raw: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or default is None:
            return float(raw) if raw.strip() else None
    except ValueError as exc:
        raise ConfigError(f"KRAKEN_{name.upper()}: cannot read {raw!r}") from exc
    return raw
