"""Minted tokens cached per (user, server, audience, scope) until shortly before expiry.

Each entry remembers the user's revocation epoch it was minted under (``TokenBroker.revoke``
bumps it): ``get`` with the current epoch drops an entry of an older one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tokencontract.expiry import usable

CacheKey = tuple[str, str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Minted:
    """A token the broker minted; ``expires_at`` and ``minted_at`` are epoch seconds."""

    access_token: str
    expires_at: float
    scope: str
    audience: str
    minted_at: float = 0.0

    def __repr__(self) -> str:  # never show the token
        return (
            f"Minted(audience={self.audience!r}, scope={self.scope!r}, "
            f"expires_at={self.expires_at})"
        )


@dataclass(frozen=True, slots=True)
class _Entry:
    minted: Minted
    epoch: int


#: The most entries a cache holds; beyond it the entries that expire first are dropped.
MAX_ENTRIES = 10_000
#: Expired entries are swept on ``put`` once the cache holds this many (then twice as many
#: as the sweep left), so that sweeping costs O(1) per put on average.
FIRST_SWEEP = 64


class TokenCache:
    """A dict with expiry: ``get`` returns a token only while it has more than ``margin``
    seconds left (the broker's ``cache_margin``) and was stored under the ``epoch`` asked for.

    Entries past the margin are dropped by ``get`` and swept by ``put``, and the cache never
    holds more than ``max_entries`` (the soonest to expire go first): keys nobody asks for
    again, such as those of many short-lived hub tokens, do not pile up.
    """

    def __init__(
        self,
        *,
        margin: float,
        clock: Callable[[], float] = time.time,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.margin = margin
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[CacheKey, _Entry] = {}
        self._sweep_at = FIRST_SWEEP

    def get(self, key: CacheKey, epoch: int = 0) -> Minted | None:
        """The token of ``key`` if it is still usable and was stored under ``epoch``
        (an entry of another epoch was minted before a revocation: it is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.epoch != epoch or not usable(entry.minted.expires_at, self.margin, self.clock()):
            del self._entries[key]
            return None
        return entry.minted

    def put(self, key: CacheKey, minted: Minted, epoch: int = 0) -> None:
        now = self.clock()
        if not usable(minted.expires_at, self.margin, now):
            return
        if key not in self._entries:
            if len(self._entries) >= self._sweep_at:
                self.sweep(now)
            while len(self._entries) >= self.max_entries:
                soonest = min(self._entries, key=lambda k: self._entries[k].minted.expires_at)
                del self._entries[soonest]
        self._entries[key] = _Entry(minted, epoch)

    def sweep(self, now: float | None = None) -> int:
        """Drop every entry past the margin; returns how many were dropped."""
        now = self.clock() if now is None else now
        stale = [
            k for k, v in self._entries.items() if not usable(v.minted.expires_at, self.margin, now)
        ]
        for key in stale:
            del self._entries[key]
        self._sweep_at = max(FIRST_SWEEP, 2 * len(self._entries))
        return len(stale)

    def forget_user(self, username: str) -> int:
        """Drop every token of a user (on revocation); returns how many were dropped."""
        keys = [key for key in self._entries if key[0] == username]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def held_by(self, username: str, server: str) -> list[Minted]:
        """The usable tokens one server of a user holds, soonest to expire first."""
        now = self.clock()
        held = [
            entry.minted
            for key, entry in self._entries.items()
            if key[:2] == (username, server) and usable(entry.minted.expires_at, self.margin, now)
        ]
        return sorted(held, key=lambda minted: minted.expires_at)

    def forget_server(self, username: str, server: str) -> int:
        """Drop the tokens one server of a user holds (it asked to); returns how many."""
        keys = [key for key in self._entries if key[:2] == (username, server)]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._entries)}
