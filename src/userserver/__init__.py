"""Our Jupyter server extension, loaded by every user's notebook server.

- ``userserver.prestart``: the kernel of the server's default notebook starts with the server,
  so that it is ready when JupyterLab opens that notebook;
- ``userserver.tokenfiles``: the server's token files kept fresh;
- ``userserver.handlers``: the API of JupyterLab's Tokens panel (``{base_url}hubtokens/tokens``);
- ``userserver.scrub``: tokens removed from notebooks before they are saved.

The hub enables it in each server it spawns (``c.Spawner.args`` in hub/jupyterhub_config.py);
the user image and the native runtime's venv have the package. One
:class:`hubtokens.TokenClient` per server serves the panel and the token files (one cache).
"""

from __future__ import annotations

from typing import Any

from hubtokens.client import TokenClient
from hubtokens.errors import NotInJupyterHub
from stackconf import settings
from userserver import handlers, scrub, tokenfiles
from userserver.prestart import prestart_kernel


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "userserver"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Before the server serves: the save hook, the panel's API and its client."""
    if settings.get_bool("USER_SAVE_SCRUBBER"):
        serverapp.contents_manager.register_pre_save_hook(scrub.make_pre_save_hook(serverapp.log))
    try:
        client: TokenClient | None = TokenClient()
    except NotInJupyterHub:
        client = None  # a server outside a hub: the panel says so
    web_app = serverapp.web_app
    web_app.settings[handlers.SETTING] = client
    web_app.add_handlers(".*$", handlers.handlers(web_app.settings["base_url"]))


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    """Runs once the server's event loop runs (jupyter_server calls it after the start)."""
    client = serverapp.web_app.settings[handlers.SETTING]
    serverapp.web_app.settings["hubtokens_files"] = await tokenfiles.start(serverapp, client)
    await prestart_kernel(serverapp)
