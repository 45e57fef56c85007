"""Every error the engine raises, in one tree, typed by fault and by what the caller should do.

::

    KrakenRouterError
    ├── ConfigError            the configuration cannot work (fix it, then restart)
    ├── DatabaseError          the database cannot be opened, is newer than the code, or not ours
    ├── LocalRejection         refused before anything was sent; names the field and the reason
    │   └── TradingUnavailable the venue's status (maintenance, cancel_only, post_only) or a
    │                          reconnect forbids this request right now
    ├── VenueRejection         Kraken refused the request; carries Kraken's error string,
    │   │                      the method and the req_id. Definitive: nothing happened.
    │   ├── RateLimitExceeded  Kraken's trading or REST counter refused it
    │   └── CredentialsRefused Kraken refused the key, its signature or its permissions
    │                          (also a ConfigError): fix the configuration
    ├── OutcomeUnknown         sent, but no answer before request_timeout or the connection
    │                          dropped: the order may be live. It stays in flight in the
    │                          database until reconciliation settles it. Never re-send blindly.
    ├── NotSent                waited in a queue past request_timeout; nothing was sent
    ├── EngineStopped          the engine is stopping or stopped; nothing was sent
    │   └── EngineFailed       it stopped itself after an internal error (fail-stop); start
    │                          a new one: its reconciliation settles what was in flight
    ├── TransportError         the socket or HTTP transport failed (connect, TLS, HTTP status)
    └── VenueProtocolError     Kraken sent something we cannot parse

`LocalRejection`, `VenueRejection`, `NotSent` and `EngineStopped` all mean "nothing is working on
the exchange because of this call"; only `OutcomeUnknown` leaves the caller in doubt.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CredentialsRefused",
    "DatabaseError",
    "EngineFailed",
    "EngineStopped",
    "KrakenRouterError",
    "LocalRejection",
    "NotSent",
    "OutcomeUnknown",
    "RateLimitExceeded",
    "TradingUnavailable",
    "TransportError",
    "VenueProtocolError",
    "VenueRejection",
]


class KrakenRouterError(Exception):
    """Base of every error raised by kraken-router."""


class ConfigError(KrakenRouterError):
    """The configuration is invalid or incomplete."""


class DatabaseError(KrakenRouterError):
    """The order database cannot be used (unreachable, too new, foreign, or not migrated)."""


class LocalRejection(KrakenRouterError, ValueError):
    """Refused before sending: `field` names the offending field, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class TradingUnavailable(LocalRejection):
    """The venue's status or the connection state forbids this request now."""


class VenueRejection(KrakenRouterError):
    """Kraken answered `success: false`; `error` is Kraken's own string."""

    def __init__(self, error: str, method: str, req_id: int | None) -> None:
        super().__init__(f"{method} (req_id={req_id}) refused by Kraken: {error}")
        self.error = error
        self.method = method
        self.req_id = req_id


class CredentialsRefused(ConfigError, VenueRejection):
    """Kraken refused the API key, its signature or its permissions (`EAPI:Invalid key`,
    `EAPI:Invalid signature`, `EGeneral:Permission denied`, `EGeneral:Temporary lockout`...).

    Retrying cannot help until the configuration changes, and Kraken locks a key out after
    repeated refusals: `Engine.connect()` raises it at the first one, and the connection tries
    again only after a long pause.
    """

    retry_after_s = 60.0  # the pause before the engine's next attempt of its own

    def __init__(self, error: str, method: str, req_id: int | None = None) -> None:
        KrakenRouterError.__init__(
            self,
            f"{method}: Kraken refused the API credentials: {error} (check api_key, api_secret "
            "and the key's permissions)",
        )
        self.error = error
        self.method = method
        self.req_id = req_id


class RateLimitExceeded(VenueRejection):
    """Kraken's trading counter (`EOrder:Rate limit exceeded`) or REST counter refused it."""


class OutcomeUnknown(KrakenRouterError):
    """Sent, but no definitive answer arrived; reconciliation will settle the order."""

    def __init__(
        self, method: str, req_id: int | None, reason: str, cl_ord_ids: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{method} (req_id={req_id}) outcome unknown: {reason}")
        self.method = method
        self.req_id = req_id
        self.reason = reason
        self.cl_ord_ids = cl_ord_ids


class NotSent(KrakenRouterError):
    """The request waited past request_timeout and was never sent."""


class EngineStopped(KrakenRouterError):
    """The engine is not accepting requests (stopping, stopped, or not started)."""


class EngineFailed(EngineStopped):
    """An actor of the engine raised what nobody expected, and the engine stopped itself.

    Nothing was sent for the call that gets it. Requests already on the wire end with their
    answer or `OutcomeUnknown`. A new engine on the same database reconciles with Kraken
    before it sends anything, as after a crash.
    """


class TransportError(KrakenRouterError):
    """The WebSocket or HTTP transport failed."""


class VenueProtocolError(KrakenRouterError):
    """Kraken sent a frame or body we cannot interpret."""
