"""What a user server on a worker can reach across the overlay networks: attacks from inside
reader's server, each passing only when it fails. The same segmentation as compose: the
backend (Postgres), Keycloak's own ports, the Docker API filter and Traefik's API are out of
reach; Keycloak's admin side is not routed."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.compose.conftest import PROBE
from tests.swarm import nodes
from tests.swarm.conftest import Swarm

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


def in_server(swarm: Swarm, user: str, *argv: str) -> dict:
    tasks = swarm.running(swarm.user_service(user))
    assert len(tasks) == 1, f"{user}'s server: {len(tasks)} running tasks"
    host = swarm.engine(tasks[0].node)
    result = subprocess.run(
        [nodes.DOCKER, *(["-H", host] if host else []), "exec", tasks[0].container, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def addresses(swarm: Swarm, service: str) -> list[str]:
    """Every overlay address of the service's running tasks."""
    found = []
    for task in swarm.running(f"{swarm.project}_{service}"):
        host = swarm.engine(task.node)
        inspect = subprocess.run(
            [nodes.DOCKER, *(["-H", host] if host else []), "inspect", task.container],
            capture_output=True,
            text=True,
            check=True,
        )
        networks = json.loads(inspect.stdout)[0]["NetworkSettings"]["Networks"]
        found += [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
    return found


@pytest.mark.parametrize(
    ("service", "port"),
    [("postgres", 5432), ("keycloak", 8080), ("keycloak", 9000), ("docker-api", 2375)],
)
def test_a_user_server_cannot_reach_the_backend(swarm: Swarm, service: str, port: int) -> None:
    targets = [(address, port) for address in addresses(swarm, service)]
    assert targets, f"no address found for {service}"
    out = in_server(
        swarm, "reader", "python", "-c", PROBE, json.dumps([service]), json.dumps(targets)
    )
    assert isinstance(out["resolved"][service], str), f"{service} resolves: {out['resolved']}"
    reached = {target: outcome for target, outcome in out["connect"].items() if outcome == "open"}
    assert not reached, f"reader's server reached {service}: {reached}"


def test_traefiks_api_refuses_a_user_server(swarm: Swarm) -> None:
    """Traefik shares the users network; its API admits the hub's network only."""
    out = in_server(
        swarm, "reader", "python", "-c", GET, "http://traefik:8099/api/overview", "traefik-api"
    )
    assert out.get("status") == 403, out


def test_keycloaks_admin_side_is_not_routed(swarm: Swarm) -> None:
    """Nothing (404), or the hub's catch-all route sending the browser to the hub."""
    for path in ("/auth/admin/master/console/", "/auth/realms/master/", "/auth/admin/realms"):
        out = in_server(
            swarm, "reader", "python", "-c", GET, f"http://traefik:8000{path}", "auth.localhost"
        )
        assert out.get("status") == 404 or (
            out.get("status") == 302 and "/hub/" in out.get("location", "")
        ), (path, out)
