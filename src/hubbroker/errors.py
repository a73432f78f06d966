"""The broker's error type: a stable code (from the shared contract) and a human message."""

from __future__ import annotations

from tokencontract.errors import ERROR_STATUS

#: The ``Retry-After`` (seconds) of every ``idp_unavailable`` and ``hub_unavailable`` answer:
#: Keycloak or the hub's database restarting takes about this long to be worth asking again;
#: the notebook client waits at least this long before its next attempt (docs/broker.md).
IDP_RETRY_AFTER = 5


class BrokerError(Exception):
    """A refused or failed mint. ``code`` is one of the contract's codes; ``retry_after``
    (seconds) is sent as the ``Retry-After`` header when set: by the rate limiter
    (``rate_limited``), and always ``IDP_RETRY_AFTER`` for ``idp_unavailable`` and
    ``hub_unavailable`` unless given."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown broker error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        if retry_after is None and code in ("idp_unavailable", "hub_unavailable"):
            retry_after = IDP_RETRY_AFTER
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}
