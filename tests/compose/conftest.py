"""Checks that only make sense for the compose runtime: containers, networks, volumes."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.support.login_flows import hub_session
from tests.support.stack import Stack

DOCKER = "docker"


def docker(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], input=stdin, capture_output=True, text=True, check=False)


# Run in a container: resolve each name (a failed lookup is reported, never "closed"), then
# try a TCP connection to each address given. Prints JSON.
PROBE = """
import errno, json, socket, sys
names, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"resolved": {}, "connect": {}}
for name in names:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        out["resolved"][name] = sorted({info[4][0] for info in infos})
    except socket.gaierror as e:
        out["resolved"][name] = "lookup failed: " + str(e)
for address, port in targets:
    try:
        socket.create_connection((address, port), timeout=3).close()
        outcome = "open"
    except TimeoutError:
        outcome = "timeout"
    except ConnectionRefusedError:
        outcome = "refused"
    except OSError as e:
        # EHOSTUNREACH: also what a firewall's ICMP "administratively prohibited" gives
        why = {errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "no route"}
        outcome = why.get(e.errno, f"error {e.errno}: {e}")
    out["connect"][f"{address}:{port}"] = outcome
print(json.dumps(out))
"""


def probe(container: str, names: list[str], targets: list[tuple[str, int]]) -> dict:
    result = docker(
        "exec", container, "python", "-c", PROBE, json.dumps(names), json.dumps(targets)
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def container_addresses(container: str) -> list[str]:
    """Every address the container has, on every network it is attached to."""
    networks = json.loads(docker("inspect", container).stdout)[0]["NetworkSettings"]["Networks"]
    return sorted({n["IPAddress"] for n in networks.values() if n["IPAddress"]})


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
