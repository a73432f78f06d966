"""Our Jupyter server extension, loaded by every user's notebook server.

It starts the kernel of the server's default notebook as the server starts
(``userserver.prestart``), so that the kernel is ready when JupyterLab opens that notebook,
and keeps the server's token files fresh (``userserver.tokenfiles``).
The hub enables it in each server it spawns (``c.Spawner.args`` in hub/jupyterhub_config.py);
the user image and the native runtime's venv have the package.
"""

from __future__ import annotations

from typing import Any

from userserver import tokenfiles
from userserver.prestart import prestart_kernel


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "userserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Nothing to set up before the server runs; the work happens once it does."""


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    """Runs once the server's event loop runs (jupyter_server calls it after the start)."""
    serverapp.web_app.settings["hubtokens_files"] = await tokenfiles.start(serverapp)
    await prestart_kernel(serverapp)
