"""Start the kernel of the server's default notebook as the server starts.

The hub opens each new server at its default URL (``/lab/tree/fruits-demo.ipynb`` here), and
JupyterLab starts that notebook's kernel only once it has booted in the browser: 0.5 s of
kernel start that the user waits for after 2 s of JupyterLab loading. Started by the server
instead, the kernel is ready by the time JupyterLab asks for the notebook's session, and
JupyterLab connects to it (it reuses the running session of a notebook's path).

``USER_PRESTART_KERNEL`` (stackconf; the hub passes it to each server) turns it off; the cost
is one kernel per server, also for a server no browser opens.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from jupyter_core.utils import ensure_async

from stackconf import settings

#: The URL prefixes under which JupyterLab and Notebook 7 open a notebook by its path.
NOTEBOOK_URL_PREFIXES = ("/lab/tree/", "/tree/", "/notebooks/")


def notebook_path(default_url: str, base_url: str = "/") -> str | None:
    """The notebook that ``default_url`` opens (a path relative to the server's root), if any.

    jupyter_server puts its ``base_url`` (``/user/<name>/`` under a hub) in front of the
    default URL it was given.

    >>> notebook_path("/user/ann/lab/tree/work/fruits%20demo.ipynb?reset", "/user/ann/")
    'work/fruits demo.ipynb'
    >>> notebook_path("/lab") is None
    True
    """
    url_path = urlsplit(default_url).path
    base = "/" + base_url.strip("/")
    if base != "/" and (url_path == base or url_path.startswith(base + "/")):
        url_path = url_path[len(base) :]
    for prefix in NOTEBOOK_URL_PREFIXES:
        if url_path.startswith(prefix):
            path = unquote(url_path[len(prefix) :]).strip("/")
            parts = PurePosixPath(path).parts
            if path.endswith(".ipynb") and ".." not in parts:
                return path
    return None


async def prestart_kernel(serverapp: Any, log: logging.Logger | None = None) -> str | None:
    """Start a session for the default notebook's path; its kernel id, or None if none started.

    Never fails the server: a missing notebook, an unknown kernel or a kernel that does not
    start is logged and left for JupyterLab to handle as it always does.
    """
    log = log or serverapp.log
    if not settings.get_bool("USER_PRESTART_KERNEL"):
        return None
    path = notebook_path(serverapp.default_url, serverapp.base_url)
    if path is None:
        return None
    try:
        contents = serverapp.contents_manager
        if not await ensure_async(contents.file_exists(path)):
            log.info("userserver: no kernel started: %s does not exist", path)
            return None
        sessions = serverapp.session_manager
        if await sessions.session_exists(path=path):
            return None
        model = await ensure_async(contents.get(path, content=True, type="notebook"))
        kernel_name = model["content"].metadata.get("kernelspec", {}).get("name")
        specs = await ensure_async(serverapp.kernel_spec_manager.find_kernel_specs())
        if kernel_name not in specs:
            kernel_name = None  # the server's default kernel, as JupyterLab would pick
        session = await sessions.create_session(
            path=path, name=PurePosixPath(path).name, type="notebook", kernel_name=kernel_name
        )
    except Exception:
        log.warning("userserver: the kernel of %s did not start early", path, exc_info=True)
        return None
    kernel_id = session["kernel"]["id"]
    log.info("userserver: started kernel %s for %s", kernel_id, path)
    return kernel_id
