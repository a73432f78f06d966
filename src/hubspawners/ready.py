"""A new server noticed up as soon as it answers (``PromptReady``, for JupyterHub's spawners).

After ``start()``, JupyterHub waits for a new server by polling its URL with exponential
backoff and jitter (waits of up to 0.4, 0.8, 1.6, 3.2 s...): a server that took 2.5 s to start
was noticed 0.9 s later on average, and up to 2.6 s later (make bench, docs/performance.md).
These spawners poll the server every ``POLL_SECONDS`` at the end of their ``start()``, so
that JupyterHub's first check finds it up. A server that does not answer within the spawner's
``http_timeout``, or whose process or container ends, is left to JupyterHub's own checks and
error messages (nothing is hidden or retried differently).
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_delay,
    wait_fixed,
)

#: How often a starting server is polled.
POLL_SECONDS = 0.1
#: Every this many polls, whether the server's process or container still runs.
ALIVE_EVERY = 10


class _Ended(Exception):
    """The server's process or container ended while it was polled."""


class PromptReady:
    """Mixin for a JupyterHub ``Spawner``: ``start()`` returns once the server answers."""

    async def start(self) -> Any:
        started = await super().start()  # type: ignore[misc]
        await self.wait_answering(self._server_url(started))
        return started

    def _server_url(self, started: Any) -> str:
        """The URL JupyterHub will check: ``start()`` gives a URL or ``(ip, port)``."""
        if isinstance(started, str):
            return started.rstrip("/") + self.server.base_url  # type: ignore[attr-defined]
        ip, port = started
        return f"http://{ip}:{port}{self.server.base_url}"  # type: ignore[attr-defined]

    async def wait_answering(self, url: str) -> None:
        """Poll ``url`` until any HTTP answer; give up quietly at ``http_timeout`` or when the
        server ended (JupyterHub's checks then report it)."""
        timeout = float(self.http_timeout)  # type: ignore[attr-defined]
        polls = AsyncRetrying(
            wait=wait_fixed(POLL_SECONDS),
            stop=stop_after_delay(timeout),
            retry=retry_if_exception_type(httpx.TransportError),
        )
        try:
            async with httpx.AsyncClient(timeout=1.0) as http:
                async for attempt in polls:
                    with attempt:
                        number = attempt.retry_state.attempt_number
                        if number % ALIVE_EVERY == 0 and await self.poll() is not None:  # type: ignore[attr-defined]
                            raise _Ended
                        await http.get(url)
        except (RetryError, _Ended):
            return
