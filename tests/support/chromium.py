"""Debian's Chromium (never `playwright install`), with the flags our closed network needs:
one owner for the pytest suites (tests/conftest.py) and the login benchmark."""

from __future__ import annotations

import os
from typing import Any

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
