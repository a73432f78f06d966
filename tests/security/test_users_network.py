"""The users network (review item 5): a user container reaches the hub's API and Traefik's
public entrypoint, and nothing else there: not another user's server, not Traefik's API
entrypoint, not the host (any of its addresses), not link-local addresses (cloud metadata).
The users firewall (src/users_firewall/) enforces it in the host's firewall.

Each attack has a control that proves the target is there and answers (from the hub, or from a
container on another network), so that the refusal is the firewall's and not an empty port.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from stackconf import settings as conf
from tests.compose.conftest import docker, probe
from tests.support.servers import container_of, start_server
from tests.support.stack import Stack

HUB = "jupyterhub-keycloak-hub-1"
FRUIT_API = "jupyterhub-keycloak-fruit-api-1"  # on the edge network only
FIREWALL = "jupyterhub-keycloak-users-firewall-1"
SERVER_PORT = 8888  # where DockerSpawner's single-user servers listen


def users_address(container: str) -> str:
    networks = json.loads(docker("inspect", container).stdout)[0]["NetworkSettings"]["Networks"]
    return networks[conf.get("USERS_NETWORK")]["IPAddress"]


@pytest.fixture(scope="module")
def curator_container(compose_stack: Stack) -> str:
    start_server(compose_stack, "curator")
    return container_of("curator")


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP port the host listens on, on every address (what a host service looks like)."""
    server = socket.create_server(("0.0.0.0", 0))  # noqa: S104 - a host service, on purpose
    server.settimeout(0.5)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def users_gateway() -> str:
    """The host's address on the users bridge (Docker's gateway: the subnet's first host)."""
    network = json.loads(docker("network", "inspect", conf.get("USERS_NETWORK")).stdout)[0]
    config = network["IPAM"]["Config"][0]
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


def host_addresses() -> list[str]:
    """The host's own IPv4 addresses, loopback and Docker's bridges aside."""
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    addresses = []
    for line in shown:
        interface, address = line.split()[1], line.split()[3].split("/")[0]
        if interface != "lo" and not interface.startswith(("docker", "br-", "veth", "jhk")):
            addresses.append(address)
    return addresses


def test_a_user_container_cannot_reach_another_users_server(
    reader_container: str, curator_container: str
) -> None:
    targets = {
        reader_container: (curator_container, users_address(curator_container)),
        curator_container: (reader_container, users_address(reader_container)),
    }
    for attacker, (victim, address) in targets.items():
        control = probe(HUB, [], [(address, SERVER_PORT)])["connect"]
        assert set(control.values()) == {"open"}, f"{victim} does not listen: {control}"
        attack = probe(attacker, [], [(address, SERVER_PORT)])["connect"]
        assert set(attack.values()) == {"unreachable"}, f"{attacker} -> {victim}: {attack}"


def test_a_user_container_reaches_traefiks_public_entrypoint_but_not_its_api(
    reader_container: str,
) -> None:
    traefik = users_address("jupyterhub-keycloak-traefik-1")
    outcomes = probe(reader_container, [], [(traefik, 8000), (traefik, 8099)])["connect"]
    assert outcomes == {f"{traefik}:8000": "open", f"{traefik}:8099": "unreachable"}
    control = probe(HUB, [], [("traefik-api", 8099)])["connect"]
    assert control == {"traefik-api:8099": "open"}


def test_a_user_container_cannot_reach_the_host(reader_container: str, host_listener: int):
    """Neither the users network's gateway (the host's address on that bridge) nor the host's
    other addresses; a container on another network reaches the same port."""
    others = host_addresses()
    assert others, "the host has no address besides loopback and Docker's bridges"
    targets = [(address, host_listener) for address in [users_gateway(), *others]]
    control = probe(FRUIT_API, [], [(address, host_listener) for address in others])["connect"]
    assert set(control.values()) == {"open"}, f"the host's listener is not reachable: {control}"
    attack = probe(reader_container, [], targets)["connect"]
    assert set(attack.values()) == {"unreachable"}, attack


def test_a_user_container_cannot_reach_link_local_addresses(reader_container: str) -> None:
    """Cloud metadata services (169.254.169.254) hand out the host's cloud credentials. The
    firewall answers at once with "administratively prohibited" (unreachable); without it the
    same connection from another network does not get that answer."""
    target = [("169.254.169.254", 80)]
    control = probe(FRUIT_API, [], target)["connect"]
    assert set(control.values()) != {"unreachable"}, f"inconclusive: {control}"
    started = time.monotonic()
    attack = probe(reader_container, [], target)["connect"]
    assert set(attack.values()) == {"unreachable"}, attack
    assert time.monotonic() - started < 3  # refused, not left to time out


def test_rules_removed_behind_its_back_are_put_back(
    reader_container: str, host_listener: int
) -> None:
    """A host firewall reload drops our rules: the users firewall notices and applies them
    again within a bound (two check periods), with no manual step."""
    bridge = conf.get("USERS_BRIDGE")
    hook = ["INPUT", "-i", bridge, "-j", f"{bridge}-input"]
    removed = docker("exec", FIREWALL, "iptables-nft", "-w", "-D", *hook)
    assert removed.returncode == 0, removed.stderr
    target = [(users_gateway(), host_listener)]
    assert set(probe(reader_container, [], target)["connect"].values()) == {"open"}  # the hole
    bound = 2 * conf.get_float("USERS_FIREWALL_CHECK_SECONDS") + 5
    deadline = time.monotonic() + bound
    while docker("exec", FIREWALL, "users-firewall", "check").returncode != 0:
        assert time.monotonic() < deadline, f"rules not back within {bound:.0f} s"
        time.sleep(1)
    assert set(probe(reader_container, [], target)["connect"].values()) == {"unreachable"}


def test_control_traefik_and_the_hub_still_reach_a_users_server(
    compose_stack: Stack, reader_container: str
) -> None:
    """The control for all of the above: the reader's server answers through Traefik (a 502
    would mean Traefik cannot reach it; the hub would redirect, not refuse) and from the hub."""
    address = users_address(reader_container)
    assert probe(HUB, [], [(address, SERVER_PORT)])["connect"] == {f"{address}:8888": "open"}
    answer = httpx.get(f"{compose_stack.server_url('reader')}/api/status", timeout=30)
    assert answer.status_code == 403, (answer.status_code, answer.headers)  # Jupyter Server's
