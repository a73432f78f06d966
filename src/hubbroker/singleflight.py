"""Single flight, two ways: ``KeyedLocks`` runs one coroutine at a time per key (a user's
refresh token is used by one refresh only); ``SingleFlight`` runs one call per key and gives
its outcome to every caller that asked meanwhile (one token exchange per cache key)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class KeyedLocks:
    """``async with locks.hold(key):`` serialises work per key; idle locks are dropped."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[key] -= 1
            if self._waiters[key] == 0:
                del self._waiters[key]
                del self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)


class SingleFlight:
    """``await flights.run(key, call)``: the first caller of a key runs ``call()``; callers of
    the same key that come while it runs wait for it and get its result, or its exception.
    Returns ``(result, ran)``, ``ran`` True for the caller that ran it. A caller cancelled
    while waiting does not cancel the call for the others."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        running = self._calls.get(key)
        if running is not None:
            return await asyncio.shield(running), False
        task: asyncio.Future[Any] = asyncio.ensure_future(call())
        self._calls[key] = task
        task.add_done_callback(lambda done: self._done(key, done))
        return await asyncio.shield(task), True

    def _done(self, key: Hashable, task: asyncio.Future[Any]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "never retrieved" warning when all callers left

    def __len__(self) -> int:
        return len(self._calls)
