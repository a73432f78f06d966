"""The broker's error type: a stable code (from the shared contract) and a human message."""

from __future__ import annotations

from hubtokens.errors import ERROR_STATUS


class BrokerError(Exception):
    """A refused or failed mint. ``code`` is one of the contract's codes."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown broker error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]

    def to_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}
