"""A runtime directory in memory for each local server (``RuntimeDir``, native runtime).

A server's token files (userserver.tokenfiles) go to ``$XDG_RUNTIME_DIR/hubtokens``, which
must be a tmpfs, never the home directory on disk. A container gets a tmpfs of its own from
DockerSpawner (hub/jupyterhub_config.py); a local server gets a new directory of its own in
``RUNTIME_ROOT`` (Linux's /dev/shm, a tmpfs), mode 0700, removed when the server stops. Its
path is kept in the spawner's state, so a restarted hub still removes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

RUNTIME_ROOT = "/dev/shm"  # noqa: S108 - a new directory of mode 0700 (mkdtemp) in it


def new_runtime_dir(root: str, username: str) -> str:
    """A new directory of mode 0700 in ``root``; "" without ``root`` (e.g. macOS: the server
    then writes no token files, and says so in its log)."""
    if not os.path.isdir(root):
        return ""
    return tempfile.mkdtemp(prefix=f"jupyterhub-{username}-", dir=root)


class RuntimeDir:
    """For a JupyterHub local-process spawner: ``XDG_RUNTIME_DIR`` in memory, per server."""

    runtime_root = RUNTIME_ROOT
    runtime_dir = ""

    def get_env(self) -> dict[str, str]:
        env = super().get_env()  # type: ignore[misc]
        if self.runtime_dir:
            env["XDG_RUNTIME_DIR"] = self.runtime_dir
        return env

    async def start(self) -> Any:
        self.remove_runtime_dir()  # a previous server's, if its stop never came
        self.runtime_dir = new_runtime_dir(self.runtime_root, self.user.name)  # type: ignore[attr-defined]
        return await super().start()  # type: ignore[misc]

    async def stop(self, now: bool = False) -> None:
        await super().stop(now)  # type: ignore[misc]
        self.remove_runtime_dir()

    def remove_runtime_dir(self) -> None:
        if self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = ""

    def clear_state(self) -> None:  # the server is gone (also when found dead after a restart)
        super().clear_state()  # type: ignore[misc]
        self.remove_runtime_dir()

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()  # type: ignore[misc]
        if self.runtime_dir:
            state["runtime_dir"] = self.runtime_dir
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        self.runtime_dir = state.get("runtime_dir", "")
