"""Keep token files fresh for as long as the server runs.

Each token file (:mod:`hubtokens.files`: the admin's from the broker's listing, the user's
from ``~/.config/hubtokens/files.toml``) gets a task that mints its token with the server's
own :class:`hubtokens.TokenClient` (one client, one cache policy with the notebook's), writes
it atomically (mode 0600) in ``$XDG_RUNTIME_DIR/hubtokens/``, and wakes up to write the next
one before the client would stop serving the current one. So a tool that reads the file gets
a token with more than the client's cache margin (30 s) left.

- The user's file is re-read when it changes (checked every ``CONFIG_CHECK_SECONDS``): new
  entries start, removed ones stop and their files are deleted.
- A token the user may not have (a scope not granted, the login ended) deletes the file and
  is tried again every ``REFUSED_RETRY_SECONDS`` (a group membership may change); the hub or
  Keycloak being down keeps the file while its token is valid and tries again every
  ``DOWN_RETRY_SECONDS``.
- When the server stops, the files are deleted (and the directory is a tmpfs that ends with
  the container, or that the native spawner removes).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from hubtokens.client import TokenClient
from hubtokens.errors import Forbidden, HubTokensError
from hubtokens.files import (
    TokenFile,
    TokenFilesError,
    admin_files,
    ensure_dir,
    files_dir,
    merged,
    user_config_path,
    user_files,
    write_atomically,
)

CONFIG_CHECK_SECONDS = 10.0
#: A new server's first broker call waits for the hub to record it (see first_listing).
STARTUP_RETRY_SECONDS = 1.0
STARTUP_SECONDS = 120.0
REFUSED_RETRY_SECONDS = 300.0
DOWN_RETRY_SECONDS = 10.0
#: Never rewrite sooner than this (a broker that still serves a token near its expiry).
MIN_WAIT_SECONDS = 5.0
#: Wake up this long after the client's cache stops serving the token written.
RENEW_AFTER_SECONDS = 1.0


class TokenFileKeeper:
    """Writes and rewrites the token files in ``directory`` with ``client``."""

    def __init__(
        self,
        client: TokenClient,
        directory: Path,
        config_path: Path,
        log: logging.Logger,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.directory = directory
        self.config_path = config_path
        self.log = log
        self.clock = clock
        self.sleep = sleep
        self.admin: list[TokenFile] = []
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.kept: dict[str, TokenFile] = {}
        self._config_stamp: tuple[float, int] | None = None
        self.task: asyncio.Task[None] | None = None

    # -- configuration ---------------------------------------------------------------

    def _stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.config_path.stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)

    def wanted(self) -> list[TokenFile]:
        """The admin's files and the user's; the admin's alone if the user's file is wrong
        (said in the server's log, with the fix)."""
        self._config_stamp = self._stamp()
        try:
            user = user_files(self.config_path)
        except TokenFilesError as e:
            self.log.error("hubtokens files: %s The other token files are kept.", e)
            user = []
        return merged(self.admin, user)

    def reconcile(self, wanted: list[TokenFile]) -> None:
        """Start a task per new or changed file; stop the others and delete their files."""
        by_name = {f.name: f for f in wanted}
        for name in list(self.tasks):
            if by_name.get(name) != self.kept.get(name):
                self.tasks.pop(name).cancel()
                self.kept.pop(name, None)
                self.remove(name)
        for name, token_file in by_name.items():
            if name not in self.tasks:
                self.kept[name] = token_file
                self.tasks[name] = asyncio.create_task(self.keep(token_file))

    # -- the files -------------------------------------------------------------------

    def remove(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)

    def remove_all(self) -> None:
        """Delete every file this keeper writes (the server is stopping)."""
        for name in list(self.kept):
            self.remove(name)

    async def keep(self, token_file: TokenFile) -> None:
        """Write ``token_file`` now and again before each token expires, until cancelled."""
        written_value = None
        while True:
            try:
                token = await asyncio.to_thread(
                    self.client.get, token_file.audience, token_file.scopes
                )
            except HubTokensError as e:
                if e.status in (None, 429) or e.status >= 500:  # down or busy: not a refusal
                    wait = DOWN_RETRY_SECONDS
                    self.log.warning(
                        "hubtokens files: %s not renewed (%s); trying again in %.0f s",
                        token_file.name,
                        e.message,
                        wait,
                    )
                else:  # refused: the user may not have this token now
                    wait = REFUSED_RETRY_SECONDS
                    self.remove(token_file.name)
                    written_value = None
                    self.log.warning(
                        "hubtokens files: %s not written (%s): %s Trying again in %.0f s.",
                        token_file.name,
                        token_file.source,
                        e.message,
                        wait,
                    )
                await self.sleep(wait)
                continue
            if token.value != written_value:
                write_atomically(self.directory, token_file.name, token.value)
                written_value = token.value
                self.log.info(
                    "hubtokens files: wrote %s (%s %s), expires in %.0f s",
                    token_file.name,
                    token.audience,
                    token.scope,
                    token.expires_in,
                )
            # Wake up just after the client stops serving this token: the next get mints.
            renew_in = token.expires_at.timestamp() - self.client.cache_margin - self.clock()
            await self.sleep(max(MIN_WAIT_SECONDS, renew_in + RENEW_AFTER_SECONDS))

    async def first_listing(self) -> dict[str, Any]:
        """The broker's listing, once the hub knows this server: until it has recorded the new
        server's address (after the server answers), the broker refuses its calls
        (``forbidden``); asked again every ``STARTUP_RETRY_SECONDS`` meanwhile."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Forbidden),
            wait=wait_fixed(STARTUP_RETRY_SECONDS),
            stop=stop_after_delay(STARTUP_SECONDS),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await asyncio.to_thread(self.client.available)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True

    async def run(self) -> None:
        """Keep the files; re-read the user's file when it changes. Runs until cancelled."""
        try:
            self.admin = admin_files(await self.first_listing())
        except HubTokensError as e:
            self.log.error("hubtokens files: the admin's token files are unknown: %s", e)
        self.reconcile(self.wanted())
        while True:
            await self.sleep(CONFIG_CHECK_SECONDS)
            if self._stamp() != self._config_stamp:
                self.reconcile(self.wanted())


async def start(serverapp: Any, client: TokenClient | None) -> TokenFileKeeper | None:
    """Start keeping the token files of this server (in a hub, with a tmpfs), or say why not."""
    log = serverapp.log
    if client is None:
        return None  # not a hub's server: nothing to mint with
    try:
        directory = ensure_dir(files_dir())
    except (TokenFilesError, OSError) as e:
        log.warning("hubtokens files: no token files are written: %s", e)
        return None
    keeper = TokenFileKeeper(client, directory, user_config_path(), log)
    keeper.task = asyncio.create_task(keeper.run())
    atexit.register(keeper.remove_all)
    return keeper
