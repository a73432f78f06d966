"""What a user server on a worker can reach across the overlay networks: attacks from inside
reader's server, each passing only when it fails. The same segmentation as compose: the
backend (Postgres), Keycloak's own ports, the Docker API filter and Traefik's API are out of
reach; Keycloak's admin side is not routed; and, the server's own firewall
(users_firewall.server) in place of compose's users firewall, another user's server, the
nodes and link-local addresses are out of reach, while the hub and Traefik answer. The
server itself runs as uid 1000 with no capability and no way to gain one."""

from __future__ import annotations

import json

import pytest

from stackconf import settings as conf
from swarm_runtime.cli import swarm_addresses
from tests.swarm import nodes
from tests.swarm.conftest import FIGURES, Swarm, addresses, docker, in_server, probe, servers_reach

#: Runs in the server: one HTTP GET (no redirect followed), its status and Location as JSON.
GET = r"""
import http.client, json, sys, urllib.parse
url, host = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
try:
    connection.request("GET", url.path, headers={"Host": host})
    answer = connection.getresponse()
    print(json.dumps({"status": answer.status, "location": answer.getheader("Location", "")}))
except OSError as error:
    print(json.dumps({"error": str(error)}))
"""
#: Runs in the server: its default route's gateway (its node, through docker_gwbridge).
GATEWAY = r"""
import ipaddress, json
for line in open("/proc/net/route").read().splitlines()[1:]:
    fields = line.split()
    if fields[1] == "00000000":
        print(json.dumps(str(ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little")))))
        break
else:
    print(json.dumps(None))
"""


@pytest.mark.parametrize(
    ("service", "port"),
    [("postgres", 5432), ("keycloak", 8080), ("keycloak", 9000), ("docker-api", 2375)],
)
def test_a_user_server_cannot_reach_the_backend(swarm: Swarm, service: str, port: int) -> None:
    targets = [(address, port) for address in addresses(swarm, service)]
    assert targets, f"no address found for {service}"
    out = probe(swarm, [service], targets)
    assert isinstance(out["resolved"][service], str), f"{service} resolves: {out['resolved']}"
    reached = {target: outcome for target, outcome in out["connect"].items() if outcome == "open"}
    assert not reached, f"reader's server reached {service}: {reached}"


def test_traefiks_api_is_out_of_a_user_servers_reach(swarm: Swarm) -> None:
    """Traefik shares the users network: its API entrypoint (8099, which admits the hub's
    network only) is refused by the server's own firewall, its public one (8000) opens."""
    out = probe(swarm, [], [("traefik", 8099), ("traefik", 8000)])["connect"]
    assert out == {"traefik:8099": "unreachable", "traefik:8000": "open"}, out


def test_keycloaks_admin_side_is_not_routed(swarm: Swarm) -> None:
    """Nothing (404), or the hub's catch-all route sending the browser to the hub."""
    for path in ("/auth/admin/master/console/", "/auth/realms/master/", "/auth/admin/realms"):
        out = in_server(
            swarm, "reader", "python", "-c", GET, f"http://traefik:8000{path}", "auth.localhost"
        )
        assert out.get("status") == 404 or (
            out.get("status") == 302 and "/hub/" in out.get("location", "")
        ), (path, out)


def test_a_user_server_cannot_reach_another_users_server(swarm: Swarm) -> None:
    """After the drain both servers share a worker (test_swarm.py tried them on two)."""
    where, reached, allowed = servers_reach(swarm)
    same = "the same worker" if len(set(where.values())) == 1 else "different workers"
    FIGURES.append(("server to server refused, servers on", f"{same}: {where}"))
    assert not reached, f"reader's server reached curator's: {reached} ({where})"
    assert set(allowed.values()) == {"open"}, allowed


def test_a_user_server_cannot_reach_the_nodes_or_link_local_addresses(swarm: Swarm) -> None:
    """Its node (through its gateway), every node at its swarm address (the registry, Swarm's
    ports), and cloud metadata: refused, not merely unanswered."""
    gateway = in_server(swarm, "reader", "python", "-c", GATEWAY)
    assert gateway, "reader's server has no default route"
    ids = docker("node", "ls", "--quiet").split()
    node_addresses = swarm_addresses(json.loads(docker("node", "inspect", *ids)))
    assert len(node_addresses) == 1 + nodes.WORKERS, node_addresses
    targets = [(gateway, port) for port in (7946, 22, 2377)]
    targets += [(address, port) for address in node_addresses for port in (7946, 2377, 5000)]
    targets += [("169.254.169.254", 80)]
    out = probe(swarm, [], targets)["connect"]
    assert set(out.values()) == {"unreachable"}, out


def test_the_server_runs_as_the_user_with_no_capability_and_no_way_to_gain_one(
    swarm: Swarm,
) -> None:
    """PID 1 of the server's container is the server itself, after its entrypoint set the
    rules: uid 1000, every capability set empty, no_new_privs (setuid binaries give nothing)."""
    tasks = swarm.running(swarm.user_service("reader"))
    status = swarm.in_server(tasks[0], "cat", "/proc/1/status")
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(":", 1) for line in status.stdout.splitlines() if ":" in line)
    fields = {key: value.split() for key, value in fields.items()}
    assert fields["Uid"] == ["1000"] * 4 and fields["Gid"] == ["1000"] * 4, fields["Uid"]
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert fields[name] == ["0000000000000000"], (name, fields[name])
    assert fields["NoNewPrivs"] == ["1"]
    cmdline = swarm.in_server(tasks[0], "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "jupyterhub-singleuser" in cmdline, cmdline
    assert (
        conf.get("USERS_NETWORK")
        in json.loads(docker("inspect", tasks[0].container, host=swarm.engine(tasks[0].node)))[0][
            "NetworkSettings"
        ]["Networks"]
    )
