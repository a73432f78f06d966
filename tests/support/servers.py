"""Calling the hub's broker the only way it answers: as a notebook server does, with the
server's own $JUPYTERHUB_API_TOKEN, from the server's own address, at $JUPYTERHUB_API_URL.

compose: the request is sent from inside the user's container (``docker exec``), by Python's
standard library, with the container's environment. native: servers are local processes of
the test's own OS user, so the test reads the server's environment (/proc/<pid>/environ) and
sends the request itself from the same loopback address, as code in the server would.

``start_server`` starts the user's server through the hub's API (a hub session, as the
browser has) and waits until it is ready.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stackconf import settings as conf
from tests.support.login_flows import CookieCarrier, hub_session
from tests.support.stack import Stack

BROKER_PATH = "/token-exchange"  # under $JUPYTERHUB_API_URL
START_TIMEOUT = 120.0

#: Runs inside a container: one HTTP request. stdin: a JSON line, then the body. The line has
#: the method, and either ``url`` (any address, only the given headers) or ``path`` (under the
#: container's $JUPYTERHUB_API_URL, with its $JUPYTERHUB_API_TOKEN or ``token``: a request of
#: the server itself); extra headers; chunked. stdout: the answer as JSON (status, headers,
#: body).
IN_CONTAINER = r"""
import http.client, json, os, sys, urllib.parse
spec = json.loads(sys.stdin.buffer.readline())
body = sys.stdin.buffer.read()
headers = {}
if spec.get("url"):
    url = urllib.parse.urlsplit(spec["url"])
else:
    url = urllib.parse.urlsplit(os.environ["JUPYTERHUB_API_URL"] + spec["path"])
    token = spec.get("token") or os.environ["JUPYTERHUB_API_TOKEN"]
    headers = {"Authorization": "token " + token, "Content-Type": "application/json"}
headers.update(spec.get("headers") or {})
target = url.path + ("?" + url.query if url.query else "")
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
if spec.get("chunked"):
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    connection.request(spec["method"], target, body=iter(chunks), headers=headers,
                       encode_chunked=True)
else:
    connection.request(spec["method"], target, body=body or None, headers=headers)
answer = connection.getresponse()
print(json.dumps({"status": answer.status, "headers": dict(answer.getheaders()),
                  "body": answer.read().decode("utf-8", "replace")}))
"""


def start_server(stack: Stack, user: str, hub: str = "", browser: CookieCarrier | None = None):
    """Start ``user``'s default server (if it is not running) and wait until it is ready."""
    browser = browser or hub_session(stack, user, hub)
    api = f"{stack.public_url}{hub}/hub/api/users/{user}"
    headers = {"X-XSRFToken": browser.cookies["_xsrf"]}
    started = browser.request("POST", f"{api}/server", headers=headers)
    # The login itself may have started the server (the hub's home page spawns it): the POST
    # then finds it running (400), or still starting, which JupyterHub answers with a 500
    # ("pending spawn" in its log); either way the server is on its way.
    if started.status_code >= 400 and "already running" not in started.text:
        server = browser.request("GET", api, headers=headers).json()["servers"].get("")
        if not server:
            raise AssertionError(
                f"the hub did not start {user}'s server: HTTP {started.status_code} {started.text}"
            )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        server = browser.request("GET", api, headers=headers).json()["servers"].get("", {})
        if server.get("ready"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{user}'s server did not start within {START_TIMEOUT:.0f} s")


def container_of(user: str) -> str:
    """The user's server container (compose), named as the hub names it."""
    return conf.get("USER_CONTAINER_NAME").replace("{username}", user)


class ServerNotRunning(AssertionError):
    """The user has no running server to call from."""


@dataclass(frozen=True)
class ServerProcess:
    """A running server process (native runtime): its environment and command line."""

    env: dict[str, str] = field(repr=False)  # holds the server's API token: never printed
    cmdline: str
    pid: int


def server_processes(users: Iterable[str], hub: str = "") -> dict[str, ServerProcess]:
    """One pass over /proc: the running server process of each of ``users`` that has one (the
    topmost of the processes with the server's environment: its kernels inherit it)."""
    wanted = {f"{hub}/user/{user}/": user for user in users}
    matches: dict[str, list[tuple[ServerProcess, int]]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            raw = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        items = raw.decode(errors="replace").split("\0")
        env = dict(item.split("=", 1) for item in items if "=" in item)
        user = wanted.get(env.get("JUPYTERHUB_SERVICE_PREFIX", ""))
        if user and "JUPYTERHUB_API_TOKEN" in env:
            matches.setdefault(user, []).append(
                (ServerProcess(env, cmdline.strip(), int(proc.name)), ppid)
            )
    found: dict[str, ServerProcess] = {}
    for user, processes in matches.items():
        pids = {process.pid for process, _ in processes}
        tops = [process for process, ppid in processes if ppid not in pids]
        found[user] = min(tops or [p for p, _ in processes], key=lambda p: p.pid)
    return found


def server_environment(user: str, hub: str = "") -> dict[str, str]:
    """The environment of ``user``'s running server process (native runtime)."""
    process = server_processes([user], hub).get(user)
    if process is None:
        raise ServerNotRunning(f"no running server process of {user} (prefix {hub}/user/{user}/)")
    return process.env


def call_as_server(
    stack: Stack,
    user: str,
    method: str,
    path: str = BROKER_PATH,
    content: bytes = b"",
    *,
    hub: str = "",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    token: str | None = None,
) -> httpx.Response:
    """One request to the hub's API from ``user``'s server, with its own token (or ``token``:
    e.g. a user-made token sent from inside the server); the server is started if needed."""
    try:
        return _call(stack, user, method, path, content, hub, headers, chunked, token)
    except ServerNotRunning:
        start_server(stack, user, hub)
        return _call(stack, user, method, path, content, hub, headers, chunked, token)


def _call(
    stack: Stack,
    user: str,
    method: str,
    path: str,
    content: bytes,
    hub: str,
    headers: dict[str, str] | None,
    chunked: bool,
    token: str | None,
) -> httpx.Response:
    if stack.runtime == "compose":
        return call_in_container(container_of(user), method, path, content, headers, chunked, token)
    env = server_environment(user, hub)
    sent: bytes | Iterable[bytes] = content
    if chunked:
        sent = iter([content[i : i + 65536] for i in range(0, len(content), 65536)])
    return httpx.request(
        method,
        env["JUPYTERHUB_API_URL"] + path,
        content=sent,
        headers={
            "Authorization": f"token {token or env['JUPYTERHUB_API_TOKEN']}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
        timeout=60.0,
    )


def mint_as_server(
    stack: Stack, user: str, audience: str, scope: Any, hub: str = ""
) -> httpx.Response:
    """Ask the broker for a token, as code in ``user``'s server does."""
    body = json.dumps({"audience": audience, "scope": scope}).encode()
    return call_as_server(stack, user, "POST", content=body, hub=hub)


def call_in_container(
    container: str,
    method: str,
    path: str = BROKER_PATH,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    token: str | None = None,
    docker: tuple[str, ...] = ("docker",),
) -> httpx.Response:
    """One request to the hub's API sent by Python inside a user's server container, with the
    container's $JUPYTERHUB_API_URL and token (or ``token``); ``docker``: the command that
    reaches the container's engine (swarm: the node's)."""
    spec = {"path": path, "token": token, "chunked": chunked}
    return _in_container(container, method, spec, content, headers, docker)


def request_in_container(
    container: str,
    method: str,
    url: str,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
    docker: tuple[str, ...] = ("docker",),
) -> httpx.Response:
    """One request to ``url`` sent by Python inside ``container`` (from its address), with
    only ``headers``."""
    return _in_container(container, method, {"url": url}, content, headers, docker)


def _in_container(
    container: str,
    method: str,
    spec: dict[str, Any],
    content: bytes,
    headers: dict[str, str] | None,
    docker: tuple[str, ...] = ("docker",),
) -> httpx.Response:
    line = json.dumps({**spec, "method": method, "headers": headers}).encode()
    result = subprocess.run(
        [*docker, "exec", "-i", container, "python", "-c", IN_CONTAINER],
        input=line + b"\n" + content,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace")[-500:]
        if "No such container" in error or "is not running" in error:
            raise ServerNotRunning(error)
        raise AssertionError(f"request from {container} failed: {error}")
    answer = json.loads(result.stdout)
    framing = {"content-length", "transfer-encoding", "content-encoding"}
    kept = {k: v for k, v in answer["headers"].items() if k.lower() not in framing}
    return httpx.Response(answer["status"], headers=kept, content=answer["body"].encode())
