"""A real Jupyter server with our extension, its hub's broker faked: the Tokens panel's API
(list, mint, forget) calls the broker with the server's API token, which never reaches the
browser; requests without the server's login are refused; a saved notebook and its
checkpoint hold no token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import nbformat
import pytest

from userserver.scrub import PLACEHOLDER

API_TOKEN = "server-api-token-" + "s" * 16
TOKEN = jwt.encode({"aud": "fruit-api", "scope": "fruits:read", "exp": 2_000_000_000}, "k" * 32)
LISTING = {"audiences": {"fruit-api": {"description": "d", "scopes": {}, "token_files": {}}}}


class Broker(BaseHTTPRequestHandler):
    """The hub's broker as the server sees it."""

    seen: list[tuple[str, str | None]] = []

    def answer(self, body: dict) -> None:
        Broker.seen.append((self.command, self.headers.get("Authorization")))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer({**LISTING, "held": []})

    def do_POST(self):
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.answer({"access_token": TOKEN, "expires_in": 300, **asked})

    def do_DELETE(self):
        self.answer({"forgotten": 1})

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[httpx.Client, Path]]:
    root = tmp_path_factory.mktemp("home")
    broker = ThreadingHTTPServer(("127.0.0.1", 0), Broker)
    threading.Thread(target=broker.serve_forever, daemon=True).start()
    port, login = free_port(), "t" * 32
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config"),
        "USER_PRESTART_KERNEL": "false",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{broker.server_address[1]}/hub/api",
        "JUPYTERHUB_API_TOKEN": API_TOKEN,
    }
    env.pop("XDG_RUNTIME_DIR", None)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server",
            f"--port={port}", "--ip=127.0.0.1", "--no-browser", "--allow-root",
            f"--ServerApp.root_dir={root}", "--ServerApp.base_url=/user/ann/",
            f"--IdentityProvider.token={login}",
            "--ServerApp.jpserver_extensions=userserver=True",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/user/ann/",
        headers={"Authorization": f"token {login}"},
        timeout=30,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("api/status").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    try:
        yield client, root
    finally:
        process.terminate()
        process.wait(timeout=30)
        broker.shutdown()


def test_the_panel_lists_mints_and_forgets_through_the_broker(server):
    client, _ = server
    Broker.seen.clear()
    listing = client.get("hubtokens/tokens")
    assert listing.status_code == 200 and listing.json()["audiences"] == LISTING["audiences"]
    minted = client.post("hubtokens/tokens", json={"audience": "fruit-api", "scope": "fruits:read"})
    assert minted.status_code == 200
    assert minted.json()["access_token"] == TOKEN and minted.json()["audience"] == "fruit-api"
    forgot = client.delete("hubtokens/tokens")
    assert forgot.json() == {"forgotten": 1}
    # The broker saw the server's own API token; the browser never does.
    assert [method for method, _ in Broker.seen] == ["GET", "POST", "DELETE"]
    assert {auth for _, auth in Broker.seen} == {f"token {API_TOKEN}"}
    for answer in (listing, minted, forgot):
        assert API_TOKEN not in answer.text


def test_a_bad_mint_request_is_the_brokers_kind_of_error(server):
    client, _ = server
    answer = client.post("hubtokens/tokens", json={"scope": "fruits:read"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request" and "audience" in answer.json()["message"]


def test_without_the_servers_login_nothing_is_answered(server):
    client, _ = server
    anonymous = httpx.Client(base_url=client.base_url, timeout=10)
    assert anonymous.get("hubtokens/tokens").status_code == 403
    assert anonymous.post("hubtokens/tokens", json={"audience": "fruit-api"}).status_code == 403


def test_a_saved_notebook_and_its_checkpoint_hold_no_token(server):
    client, root = server
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(hubtokens.get('fruit-api').value)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=TOKEN + "\n")]
    nb.cells.append(cell)
    content = json.loads(nbformat.writes(nb))
    saved = client.put("api/contents/leak.ipynb", json={"type": "notebook", "content": content})
    assert saved.status_code in (200, 201), saved.text
    on_disk = (root / "leak.ipynb").read_text()
    assert TOKEN not in on_disk and PLACEHOLDER in on_disk
    checkpoint = client.post("api/contents/leak.ipynb/checkpoints")
    assert checkpoint.status_code == 201
    (copy,) = (root / ".ipynb_checkpoints").glob("leak-checkpoint.ipynb")
    assert TOKEN not in copy.read_text()
