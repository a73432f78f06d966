"""The swarm suite (issue 15): the stack deployed by `swarm-runtime up` on a swarm of three
engines made on this machine (tests/swarm/nodes.py), driven as users drive it: the real OAuth
login, servers started through the hub, tokens minted by code inside the servers.

``Swarm`` finds where things run (a service's tasks and their nodes) and reaches each node's
engine. ``FIGURES`` collects the recovery times, printed as a table at the end of the run.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time

import pytest

from stackconf import settings as conf
from tests.compose.conftest import PROBE
from tests.support.stack import Stack, running_stack
from tests.swarm import nodes

#: The two users whose servers the suite starts (tests/swarm/test_swarm.py).
USERS = ("reader", "curator")
#: What the suite measured: (what, value), printed at the end (pytest_terminal_summary).
FIGURES: list[tuple[str, str]] = []

#: Runs inside a user's server: forget the broker's cached tokens of this server (so that the
#: mint reaches Keycloak: a refresh of the user's login, then the token exchange), mint a
#: fruit-api token, read the fruits with it. Prints the three statuses as JSON.
FORGET_MINT_READ = r"""
import json, os, urllib.request
api = os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/token-exchange"
hub = {"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
       "Content-Type": "application/json"}
def call(method, url, headers, body=None):
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return None, str(error).encode()
out = {}
out["forget"], _ = call("DELETE", api, hub)
body = json.dumps({"audience": "fruit-api", "scope": "fruits:read"}).encode()
out["mint"], minted = call("POST", api, hub, body)
if out["mint"] == 200:
    token = json.loads(minted)["access_token"]
    out["read"], _ = call("GET", os.environ["FRUIT_API_URL"].rstrip("/") + "/fruits/usual",
                          {"Authorization": "Bearer " + token})
else:
    out["read"], out["error"] = None, minted.decode("utf-8", "replace")[:300]
print(json.dumps(out))
"""


def docker(*args: str, host: str | None = None, check: bool = True) -> str:
    argv = [nodes.DOCKER, *(["-H", host] if host else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-400:]}")
    return result.stdout.strip()


@dataclasses.dataclass(frozen=True)
class Task:
    service: str
    node: str
    container: str  # its container's ID on that node


@dataclasses.dataclass(frozen=True)
class Swarm:
    stack: Stack
    project: str
    manager: str  # the manager's node name (this host's engine)

    def engine(self, node: str) -> str | None:
        """How to reach ``node``'s engine (None: this host's)."""
        return None if node == self.manager else nodes.node_sockets()[node]

    def running(self, service: str) -> list[Task]:
        """The service's running tasks, with their nodes and containers."""
        lines = docker(
            "service",
            "ps",
            service,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.Node}} {{.CurrentState}}",
            check=False,
        ).splitlines()
        tasks = []
        for line in lines:
            task_id, node, state = line.split(" ", 2)
            if not state.startswith("Running"):
                continue
            inspect = json.loads(docker("inspect", task_id))[0]
            container = inspect.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if container:
                tasks.append(Task(service, node, container))
        return tasks

    def user_service(self, user: str) -> str:
        return conf.get("USER_CONTAINER_NAME").replace("{username}", user)

    def in_server(self, task: Task, *argv: str) -> subprocess.CompletedProcess:
        """Run ``argv`` in a user server's container as the notebook's user (uid 1000; the
        container itself starts as root, to set its firewall), wherever it runs."""
        host = self.engine(task.node)
        return subprocess.run(
            [nodes.DOCKER, *(["-H", host] if host else []), "exec", "--user", "1000:1000"]
            + [task.container, *argv],
            capture_output=True,
            text=True,
            check=False,
        )

    def forget_mint_read(self, user: str) -> dict:
        """Run FORGET_MINT_READ in ``user``'s server, wherever it runs."""
        tasks = self.running(self.user_service(user))
        if len(tasks) != 1:
            return {"error": f"{len(tasks)} running tasks of {user}'s server"}
        result = self.in_server(tasks[0], "python", "-c", FORGET_MINT_READ)
        if result.returncode != 0:
            return {"error": result.stderr.strip()[-300:]}
        return {**json.loads(result.stdout), "node": tasks[0].node}


def in_server(swarm: Swarm, user: str, *argv: str) -> dict:
    """``argv`` run in ``user``'s server (as uid 1000): its output, as JSON."""
    tasks = swarm.running(swarm.user_service(user))
    assert len(tasks) == 1, f"{user}'s server: {len(tasks)} running tasks"
    result = swarm.in_server(tasks[0], *argv)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def addresses(swarm: Swarm, service: str) -> list[str]:
    """Every overlay address of the service's running tasks (a stack service's name, or a
    user server's service)."""
    found = []
    name = service if service.startswith("jupyter") else f"{swarm.project}_{service}"
    for task in swarm.running(name):
        host = swarm.engine(task.node)
        inspect = docker("inspect", task.container, host=host)
        networks = json.loads(inspect)[0]["NetworkSettings"]["Networks"]
        found += [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]
    return found


def probe(swarm: Swarm, names: list[str], targets: list[tuple[str, int]]) -> dict:
    """PROBE run in reader's server: the names resolved, each target's outcome."""
    return in_server(swarm, "reader", "python", "-c", PROBE, json.dumps(names), json.dumps(targets))


def servers_reach(swarm: Swarm) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """From reader's server: which of curator's server's ports open (its server port, the
    hub's and Traefik's, ssh's), and whether the hub's API and Traefik open (so that the probe
    itself works). (where each server runs, curator's ports opened, the hub's and Traefik's)."""
    where = {user: swarm.running(swarm.user_service(user))[0].node for user in USERS}
    curator = addresses(swarm, swarm.user_service("curator"))
    assert curator, "no address found for curator's server"
    ports = (8888, 8081, 8000, 22)
    out = probe(swarm, [], [(a, p) for a in curator for p in ports])["connect"]
    reached = {target: outcome for target, outcome in out.items() if outcome == "open"}
    allowed = probe(swarm, [], [("hub", 8081), ("traefik", 8000)])["connect"]
    return where, reached, allowed


def ok(outcome: dict) -> bool:
    return outcome.get("mint") == 200 and outcome.get("read") == 200


def until(condition, timeout: float, what: str, every: float = 0.5) -> float:
    """Seconds until ``condition()`` is true; AssertionError after ``timeout``."""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@pytest.fixture(scope="session")
def swarm() -> Swarm:
    stack = dataclasses.replace(running_stack(), runtime="swarm")
    manager = docker("info", "--format", "{{.Name}}")
    return Swarm(stack=stack, project="jupyterhub-keycloak", manager=manager)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if not FIGURES:
        return
    width = max(len(what) for what, _ in FIGURES)
    terminalreporter.write_sep("=", "swarm: where servers ran and recovery times")
    for what, value in FIGURES:
        terminalreporter.write_line(f"{what:<{width}}  {value}")
