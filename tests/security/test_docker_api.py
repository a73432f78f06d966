"""The hub is not root on the host (review item 1): it runs as an unprivileged user without the
Docker socket, and the Docker API filter it talks to refuses every container that is not a
user server made the way DockerSpawner makes them.

Each attack is sent from inside the hub container, as code running in the hub would send it,
to the filter at docker-api:2375. A refused request must answer 403 and name the rule; a
well-formed user container is accepted (so that the refusals are not a filter refusing
everything)."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from tests.compose.conftest import docker
from tests.support.servers import request_in_container

HUB = "jupyterhub-keycloak-hub-1"
FILTER = "http://docker-api:2375"


def answer_from_hub(method: str, path: str, body: dict | None = None) -> httpx.Response:
    """Send one Docker API request from inside the hub container to the filter."""
    content = b"" if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return request_in_container(HUB, method, FILTER + path, content, headers)


def from_hub(method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    answer = answer_from_hub(method, path, body)
    return answer.status_code, answer.text


def refused_by_the_filter(answer: httpx.Response) -> bool:
    """The filter refused (its header), not the daemon (e.g. Docker's own 404)."""
    return answer.status_code == 403 and answer.headers.get("x-docker-api-filter") == "refused"


def inspect(container: str) -> dict:
    result = docker("inspect", container)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


@pytest.fixture(scope="module")
def user_container_body(reader_container: str) -> dict:
    """A create request shaped like the reader's real server container (its image, label,
    network and least rights) for a container named jupyter-attack with that user's volume,
    without the reader's environment (it holds a hub token)."""
    info = inspect(reader_container)
    config, host = info["Config"], info["HostConfig"]
    return {
        "Image": config["Image"],
        "Labels": config["Labels"],
        "Cmd": ["sleep", "1"],
        "HostConfig": {
            # The home volume of the user the container is named after (jupyter-attack).
            "Binds": ["jupyterhub-user-attack:/home/jovyan"],
            "NetworkMode": host["NetworkMode"],
            "CapDrop": host["CapDrop"],
            "SecurityOpt": host["SecurityOpt"],
            "PidsLimit": host["PidsLimit"],
            "Memory": host["Memory"],
            "CpuPeriod": host["CpuPeriod"],
            "CpuQuota": host["CpuQuota"],
        },
    }


def with_change(body: dict, change: dict) -> dict:
    """``body`` with ``change`` merged in (nested dicts merged key by key)."""
    merged = copy.deepcopy(body)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def test_the_hub_runs_as_an_unprivileged_user_without_the_docker_socket(compose_stack) -> None:
    uid = docker("exec", HUB, "id", "-u")
    assert uid.returncode == 0 and uid.stdout.strip() not in ("", "0")
    status = docker("exec", HUB, "cat", "/proc/1/status").stdout
    cap_eff = next(line for line in status.splitlines() if line.startswith("CapEff:"))
    assert int(cap_eff.split()[1], 16) == 0
    mounts = [m["Destination"] for m in inspect(HUB)["Mounts"]]
    assert not any("docker.sock" in m for m in mounts), mounts
    assert docker("exec", HUB, "test", "-e", "/var/run/docker.sock").returncode != 0


def test_a_well_formed_user_container_is_accepted(user_container_body) -> None:
    body = with_change(user_container_body, {})
    body["HostConfig"]["Binds"] = ["jupyterhub-user-filter-probe:/home/jovyan"]
    answer = answer_from_hub("POST", "/containers/create?name=jupyter-filter-probe", body)
    try:
        assert answer.status_code == 201, answer.text
        assert "x-docker-api-filter" not in answer.headers  # the daemon's answer, passed on
    finally:
        docker("rm", "-f", "jupyter-filter-probe")
        docker("volume", "rm", "-f", "jupyterhub-user-filter-probe")


ATTACKS = {
    # name: (change to the user container's create request, word the refusal must name)
    "privileged": ({"HostConfig": {"Privileged": True}}, "Privileged"),
    "host root bind": ({"HostConfig": {"Binds": ["/:/host"]}}, "Binds"),
    "docker socket bind": (
        {"HostConfig": {"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}},
        "Binds",
    ),
    "another user's home volume": (
        {"HostConfig": {"Binds": ["jupyterhub-user-reader:/home/jovyan"]}},
        "another user",
    ),
    "another stack volume": (
        {"HostConfig": {"Binds": ["jupyterhub-keycloak_postgres:/data"]}},
        "Binds",
    ),
    "bind mount": (
        {"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/x"}]}},
        "Mounts",
    ),
    "added capability": ({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}}, "CapAdd"),
    "capabilities kept": ({"HostConfig": {"CapDrop": []}}, "CapDrop"),
    "host network": ({"HostConfig": {"NetworkMode": "host"}}, "NetworkMode"),
    "backend network": (
        {"HostConfig": {"NetworkMode": "jupyterhub-keycloak_backend"}},
        "NetworkMode",
    ),
    "host pid": ({"HostConfig": {"PidMode": "host"}}, "PidMode"),
    "host ipc": ({"HostConfig": {"IpcMode": "host"}}, "IpcMode"),
    "host user namespace": ({"HostConfig": {"UsernsMode": "host"}}, "UsernsMode"),
    "device": (
        {"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}},
        "Devices",
    ),
    "seccomp off": (
        {"HostConfig": {"SecurityOpt": ["no-new-privileges:true", "seccomp=unconfined"]}},
        "SecurityOpt",
    ),
    "another image": ({"Image": "jupyterhub-keycloak/hub:dev"}, "Image"),
    "no stack label": ({"Labels": None}, "Labels"),
    "root user": ({"User": "0"}, "User"),
    # Docker parses a user or group given as digits with strconv.Atoi: "+0" is uid 0 (review
    # round three, finding 9); the filter accepts digits only in their plain form.
    "root user, signed": ({"User": "+0"}, "User"),
    "root group, signed": ({"User": "1000:+0"}, "User"),
    # Review round three, finding 11: the limits are the settings', neither more nor none.
    "no memory limit": ({"HostConfig": {"Memory": 0}}, "Memory"),
    "more memory": ({"HostConfig": {"Memory": 64 << 30}}, "Memory"),
    "more processes": ({"HostConfig": {"PidsLimit": 1 << 20}}, "PidsLimit"),
    "more CPUs": ({"HostConfig": {"CpuQuota": 1_600_000}}, "CpuQuota"),
    "spared by the OOM killer": ({"HostConfig": {"OomScoreAdj": -1000}}, "OomScoreAdj"),
    "unlimited swap": ({"HostConfig": {"MemorySwap": -1}}, "MemorySwap"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_forbidden_container_is_refused(user_container_body, attack) -> None:
    change, field = ATTACKS[attack]
    answer = answer_from_hub(
        "POST", "/containers/create?name=jupyter-attack", with_change(user_container_body, change)
    )
    leftover = docker("ps", "-a", "--filter", "name=jupyter-attack", "--format", "{{.Names}}")
    docker("rm", "-f", "jupyter-attack")
    assert refused_by_the_filter(answer), (answer.status_code, answer.text)
    assert field in answer.text, answer.text
    assert not leftover.stdout.strip(), "the filter let the container be created"


@pytest.mark.parametrize(
    "request_",
    [
        ("POST", "/containers/{keycloak}/stop", None),
        ("DELETE", "/containers/{keycloak}?force=true", None),
        ("GET", "/containers/{keycloak}/json", None),
        ("POST", "/containers/{reader}/exec", {"Cmd": ["id"]}),
        ("POST", "/containers/{keycloak}/exec", {"Cmd": ["id"]}),
        ("GET", "/containers/{keycloak}/archive?path=/opt", None),
        ("POST", "/images/create?fromImage=alpine&tag=latest", None),
        ("POST", "/volumes/create", {"Name": "x"}),
        ("POST", "/networks/jupyterhub-keycloak_backend/connect", {"Container": "{reader}"}),
        ("POST", "/build", None),
        ("GET", "/secrets", None),
        ("POST", "/v1.45/containers/{keycloak}/kill", None),
    ],
    ids=lambda r: f"{r[0]} {r[1].split('?')[0]}",
)
def test_other_containers_and_endpoints_are_out_of_reach(reader_container, request_) -> None:
    method, path, body = request_
    names = {"keycloak": "jupyterhub-keycloak-keycloak-1", "reader": reader_container}
    path = path.format(**names)
    if body is not None:
        body = json.loads(json.dumps(body).replace("{reader}", reader_container))
    answer = answer_from_hub(method, path, body)
    assert refused_by_the_filter(answer), (answer.status_code, answer.headers, answer.text)
    assert inspect("jupyterhub-keycloak-keycloak-1")["State"]["Running"]


def test_the_container_list_shows_only_user_containers(reader_container) -> None:
    status, text = from_hub("GET", "/containers/json?all=1")
    assert status == 200, text
    names = {name.lstrip("/") for container in json.loads(text) for name in container["Names"]}
    assert reader_container in names
    assert not any(name.startswith("jupyterhub-keycloak-") for name in names), names


def test_the_filter_is_reachable_from_the_hub_only(reader_container) -> None:
    """A user's server cannot reach the Docker API filter (it is on a network of its own)."""
    attempt = docker(
        "exec",
        reader_container,
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://docker-api:2375/_ping', timeout=5)",
    )
    assert attempt.returncode != 0
    assert "Error" in attempt.stderr
