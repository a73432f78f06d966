"""The broker's error type: a stable code (from the shared contract) and a human message."""

from __future__ import annotations

from typing import Any

from hubtokens.errors import ERROR_STATUS

#: An error message quotes at most this many characters of anything the caller sent.
ECHO_LIMIT = 64


def echo(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)`` (or ``value`` itself for a string) cut to ``limit`` characters with an
    ellipsis: what an error message may quote of the caller's input, so that a response stays
    small whatever was sent."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
