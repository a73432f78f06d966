"""RuntimeDir: each local server gets XDG_RUNTIME_DIR, a new directory of mode 0700 in memory,
removed when the server stops, also by a hub restarted meanwhile (from the spawner's state)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

from hubspawners.runtimedir import RuntimeDir, new_runtime_dir


class Base:
    """A JupyterHub spawner as RuntimeDir sees it."""

    def __init__(self):
        self.user = SimpleNamespace(name="ann")
        self.env_at_start: dict[str, str] = {}

    def get_env(self):
        return {"JUPYTERHUB_API_TOKEN": "t"}

    async def start(self):
        self.env_at_start = self.get_env()
        return ("127.0.0.1", 8888)

    async def stop(self, now=False):
        pass

    def get_state(self):
        return {"pid": 42}

    def load_state(self, state):
        self.pid = state.get("pid")

    def clear_state(self):
        pass


class Spawner(RuntimeDir, Base):
    pass


async def test_a_server_gets_its_own_private_runtime_dir_until_it_stops(tmp_path):
    spawner = Spawner()
    spawner.runtime_root = str(tmp_path)
    await spawner.start()
    runtime = spawner.env_at_start["XDG_RUNTIME_DIR"]
    assert os.path.dirname(runtime) == str(tmp_path)
    assert os.path.basename(runtime).startswith("jupyterhub-ann-")
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
    assert spawner.get_state() == {"pid": 42, "runtime_dir": runtime}
    await spawner.stop()
    assert os.listdir(tmp_path) == [] and "XDG_RUNTIME_DIR" not in spawner.get_env()


async def test_a_restarted_hub_removes_the_dir_of_a_server_found_gone(tmp_path):
    first = Spawner()
    first.runtime_root = str(tmp_path)
    await first.start()
    state = first.get_state()
    (Path(state["runtime_dir"]) / "token").write_text("a token")
    restarted = Spawner()
    restarted.load_state(state)
    assert restarted.pid == 42 and restarted.runtime_dir == state["runtime_dir"]
    restarted.clear_state()
    assert os.listdir(tmp_path) == []


async def test_a_new_start_replaces_a_dir_left_behind(tmp_path):
    spawner = Spawner()
    spawner.runtime_root = str(tmp_path)
    await spawner.start()
    left = spawner.runtime_dir
    await spawner.start()
    assert (
        os.listdir(tmp_path) == [os.path.basename(spawner.runtime_dir)]
        and left != spawner.runtime_dir
    )


def test_no_root_no_dir(tmp_path):
    assert new_runtime_dir(str(tmp_path / "absent"), "ann") == ""
