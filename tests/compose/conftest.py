"""Checks that only make sense for the compose runtime: containers, networks, volumes."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.login_flows import hub_session
from tests.support.stack import Stack

DOCKER = "docker"


def docker(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], input=stdin, capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def compose_stack(stack: Stack) -> Stack:
    if stack.runtime != "compose":
        pytest.fail("these tests need the compose runtime: run `make test-compose`", pytrace=False)
    return stack


@pytest.fixture(scope="module")
def reader_container(compose_stack: Stack) -> str:
    """The reader's running server container, started through the hub's API if needed (per
    module: a logout in between stops the user's servers)."""
    browser = hub_session(compose_stack, "reader")
    api = f"{compose_stack.public_url}/hub/api/users/reader"
    headers = {"X-XSRFToken": browser.cookies["_xsrf"]}
    browser.request("POST", f"{api}/server", headers=headers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        server = browser.request("GET", api, headers=headers).json()["servers"].get("", {})
        if server.get("ready"):
            break
        time.sleep(1)
    else:
        pytest.fail("the reader's server did not start within 120 s")
    names = docker("ps", "--filter", "name=jupyter-reader", "--format", "{{.Names}}")
    name = names.stdout.split()[0]
    return name
