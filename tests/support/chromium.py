"""Debian's Chromium (never `playwright install`), with the flags our closed network needs:
one owner for the pytest suites (tests/conftest.py) and the login benchmark."""

from __future__ import annotations

import os
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Request

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_args(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Playwright's ``launch`` arguments for Debian's Chromium; a clear error without it."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set "
            "CHROMIUM to its path."
        )
    return {**(base or {}), "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


#: Chromium's error for a request it aborted because the machine's network changed.
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"


def goto(page: Page, url: str, attempts: int = 3) -> None:
    """``page.goto(url)``, loaded again if Chromium aborted the page or one of its scripts with
    ``ERR_NETWORK_CHANGED``.

    The tests' browser shares the machine's network with Docker: a user's new container adds
    a network interface (and its addresses a moment later), which Chromium takes for a network
    change, and it aborts the requests in flight. A user's browser runs elsewhere; here,
    opening JupyterLab right after a server started could leave a blank page (its main script
    aborted).
    """
    for attempt in range(1, attempts + 1):
        aborted: list[str] = []

        def note(request: Request, aborted: list[str] = aborted) -> None:
            if request.failure == NETWORK_CHANGED:
                aborted.append(request.url)

        page.on("requestfailed", note)
        try:
            page.goto(url)
        except PlaywrightError as e:
            # The main request's own abort may surface as "interrupted by another navigation
            # to chrome-error://..." only: the failed request it noted says why.
            changed = NETWORK_CHANGED in str(e) or bool(aborted)
            if not changed or attempt == attempts:
                raise
            continue
        finally:
            page.remove_listener("requestfailed", note)
        if not aborted:
            return
    raise AssertionError(f"{url}: Chromium aborted {aborted} {attempts} times ({NETWORK_CHANGED})")
