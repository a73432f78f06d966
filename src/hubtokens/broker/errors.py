"""The broker's error type: a stable code (from the shared contract) and a human message."""

from __future__ import annotations

from hubtokens.errors import ERROR_STATUS


class BrokerError(Exception):
    """A refused or failed mint. ``code`` is one of the contract's codes; ``retry_after``
    (seconds) is sent as the ``Retry-After`` header when set (``rate_limited``)."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown broker error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}
