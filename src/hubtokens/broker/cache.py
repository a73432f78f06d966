"""Minted tokens cached per (user, server, audience, scope) until shortly before expiry."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubtokens.expiry import usable

CacheKey = tuple[str, str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Minted:
    """A token the broker minted; ``expires_at`` is epoch seconds."""

    access_token: str
    expires_at: float
    scope: str
    audience: str

    def __repr__(self) -> str:  # never show the token
        return (
            f"Minted(audience={self.audience!r}, scope={self.scope!r}, "
            f"expires_at={self.expires_at})"
        )


class TokenCache:
    """A dict with expiry: ``get`` returns a token only while it has more than ``margin``
    seconds left (the broker's ``cache_margin``)."""

    def __init__(self, *, margin: float, clock: Callable[[], float] = time.time) -> None:
        self.margin = margin
        self.clock = clock
        self._entries: dict[CacheKey, Minted] = {}

    def get(self, key: CacheKey) -> Minted | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not usable(entry.expires_at, self.margin, self.clock()):
            del self._entries[key]
            return None
        return entry

    def put(self, key: CacheKey, minted: Minted) -> None:
        if usable(minted.expires_at, self.margin, self.clock()):
            self._entries[key] = minted

    def forget_user(self, username: str) -> int:
        """Drop every token of a user (on logout); returns how many were dropped."""
        keys = [key for key in self._entries if key[0] == username]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries)}
