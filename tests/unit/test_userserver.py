"""userserver: a user's server starts its default notebook's kernel as it starts.

``notebook_path`` and the refusals are our logic (fakes of jupyter_server's managers); one test
runs a real Jupyter server with the extension and asks it for its sessions, as JupyterLab does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import nbformat
import pytest

from userserver.prestart import notebook_path, prestart_kernel

DEMO = Path(__file__).resolve().parents[2] / "hub" / "notebooks" / "fruits-demo.ipynb"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        # under a hub, jupyter_server has put its base URL in front
        ("/user/ann/lab/tree/fruits-demo.ipynb", "fruits-demo.ipynb"),
        ("/user/annex/lab/tree/x.ipynb", None),  # another base URL: not this server's
        ("/lab/tree/fruits-demo.ipynb", "fruits-demo.ipynb"),
        ("/lab/tree/work/a%20b.ipynb?reset", "work/a b.ipynb"),
        ("/tree/x.ipynb", "x.ipynb"),  # Notebook 7's tree
        ("/notebooks/sub/x.ipynb", "sub/x.ipynb"),  # Notebook 7's notebook view
        ("/lab", None),
        ("/lab/tree/work", None),  # a folder
        ("/lab/tree/notes.md", None),
        ("/lab/tree/../x.ipynb", None),
        ("/lab/tree/a/%2E%2E/x.ipynb", None),
        ("/lab/workspaces/auto-x/tree/x.ipynb", None),
    ],
)
def test_notebook_path(url, path):
    base_url = "/user/ann/" if url.startswith("/user/") else "/"
    assert notebook_path(url, base_url) == path


class Sessions:
    def __init__(self, existing=()):
        self.existing = set(existing)
        self.created = []

    async def session_exists(self, path):
        return path in self.existing

    async def create_session(self, **kwargs):
        self.created.append(kwargs)
        return {"kernel": {"id": "k1"}}


class Contents:
    def __init__(self, files):
        self.files = files

    def file_exists(self, path):  # jupyter_server's default contents manager is synchronous
        return path in self.files

    def get(self, path, content, type):
        return {"content": self.files[path]}


class Specs:
    def __init__(self, names):
        self.names = names

    async def find_kernel_specs(self):
        return {name: f"/specs/{name}" for name in self.names}


def server(files, kernels=("python3",), sessions=None, default_url="/lab/tree/nb.ipynb"):
    return SimpleNamespace(
        default_url=default_url,
        contents_manager=Contents(files),
        base_url="/",
        session_manager=sessions or Sessions(),
        kernel_spec_manager=Specs(kernels),
        log=SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: None),
    )


def notebook(kernel="python3"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel}
    return nb


async def test_starts_the_notebooks_own_kernel():
    app = server({"nb.ipynb": notebook("python3")})
    assert await prestart_kernel(app) == "k1"
    assert app.session_manager.created == [
        {"path": "nb.ipynb", "name": "nb.ipynb", "type": "notebook", "kernel_name": "python3"}
    ]


async def test_an_unknown_kernel_falls_back_to_the_servers_default():
    app = server({"nb.ipynb": notebook("julia-1.9")})
    await prestart_kernel(app)
    assert app.session_manager.created[0]["kernel_name"] is None


@pytest.mark.parametrize(
    "app",
    [
        server({}),  # the notebook is not there
        server({"nb.ipynb": notebook()}, default_url="/lab"),  # no notebook to open
        server({"nb.ipynb": notebook()}, sessions=Sessions(existing={"nb.ipynb"})),
    ],
    ids=["missing", "no-notebook-url", "already-running"],
)
async def test_starts_nothing_when_there_is_nothing_to_start(app):
    assert await prestart_kernel(app) is None
    assert app.session_manager.created == []


async def test_the_setting_turns_it_off(monkeypatch):
    monkeypatch.setenv("USER_PRESTART_KERNEL", "false")
    app = server({"nb.ipynb": notebook()})
    assert await prestart_kernel(app) is None
    assert app.session_manager.created == []


async def test_a_failure_is_logged_and_never_raised():
    warnings = []

    class Broken(Sessions):
        async def create_session(self, **kwargs):
            raise RuntimeError("kernel died")

    app = server({"nb.ipynb": notebook()}, sessions=Broken())
    app.log = SimpleNamespace(info=lambda *a, **k: None, warning=lambda *a, **k: warnings.append(a))
    assert await prestart_kernel(app) is None
    assert warnings and "did not start early" in warnings[0][0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_server_has_the_default_notebooks_kernel_before_any_browser(tmp_path):
    """The session JupyterLab looks up by the notebook's path exists, its kernel alive."""
    shutil.copy(DEMO, tmp_path / DEMO.name)
    port, token = _free_port(), "t" * 32
    env = {**os.environ, "USER_PRESTART_KERNEL": "true", "JUPYTER_CONFIG_DIR": str(tmp_path)}
    server_process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server",
            f"--port={port}", "--ip=127.0.0.1", "--no-browser", "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.base_url=/user/ann/",  # as under a hub
            f"--IdentityProvider.token={token}",
            f"--ServerApp.default_url=/lab/tree/{DEMO.name}",
            "--ServerApp.jpserver_extensions=userserver=True",  # as the hub passes it
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}/user/ann/api",
            headers={"Authorization": f"token {token}"},
        )
        deadline, sessions = time.monotonic() + 60, []
        while time.monotonic() < deadline and not sessions:
            try:
                sessions = api.get("/sessions").json()
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert [s["path"] for s in sessions] == [DEMO.name]
        kernel = sessions[0]["kernel"]
        assert kernel["name"] == "python3"
        assert api.get(f"/kernels/{kernel['id']}").status_code == 200
    finally:
        server_process.terminate()
        server_process.wait(timeout=30)
