"""The Docker API filter as a proxy, in front of a fake Docker daemon (httpx.MockTransport):
refused requests never reach the daemon; allowed ones reach it as sent (the list query gets the
stack's label, a container is acted on by its full ID once its label is checked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.testclient import TestClient

from docker_api_filter.__main__ import listen_address
from docker_api_filter.policy import Decision, FilterSettings, Policy
from docker_api_filter.proxy import create_app
from stackconf import settings as conf
from tests.support.docker_api_bodies import (
    CONTAINER_ID,
    IMAGE,
    LABEL_KEY,
    LABEL_VALUE,
    SERVICE_ID,
    SETTINGS,
    SWARM_SETTINGS,
    service_body,
    spawner_body,
)

V = "/v1.45"


class Chunks(httpx.AsyncByteStream):
    """A body that arrives in pieces, as from the socket (not read in advance)."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    async def __aiter__(self):
        for start in range(0, len(self.content), 65536):
            yield self.content[start : start + 65536]


class FakeDocker:
    """Answers like the daemon; remembers every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.containers = {
            "jupyter-alice": {"Id": CONTAINER_ID, "Config": {"Labels": {LABEL_KEY: LABEL_VALUE}}},
            "postgres": {
                "Id": "ab" * 32,
                "Config": {"Labels": {"com.docker.compose.service": "db"}},
            },
        }
        self.services = {
            "jupyter-alice": {"ID": SERVICE_ID, "Spec": {"Labels": {LABEL_KEY: LABEL_VALUE}}},
            # A service named like a user's, but not this stack's.
            "jupyter-monitor": {"ID": "m" * 25, "Spec": {"Labels": {"team": "ops"}}},
        }
        self.fail: Exception | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.answer(request)
        return httpx.Response(
            answer.status_code, headers=answer.headers, stream=Chunks(answer.content)
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            raise self.fail
        path = request.url.path.removeprefix(V)
        headers = {"Api-Version": "1.45", "Docker-Experimental": "false", "Connection": "close"}
        for name, container in self.containers.items():
            if path in (f"/containers/{name}/json", f"/containers/{container['Id']}/json"):
                return httpx.Response(200, json=container, headers=headers)
        if path.startswith("/containers/") and path.endswith("/json") and path.count("/") == 3:
            name = path.split("/")[2]
            return httpx.Response(
                404, json={"message": f"No such container: {name}"}, headers=headers
            )
        if path.endswith("/containers/create"):
            return httpx.Response(201, json={"Id": CONTAINER_ID, "Warnings": []}, headers=headers)
        if path.endswith("/services/create"):
            return httpx.Response(201, json={"ID": SERVICE_ID}, headers=headers)
        if path.startswith("/services/") and request.method == "GET":
            ref = path.removeprefix("/services/")
            for service in self.services.values():
                if ref in (service["ID"], service["Spec"].get("Name"), *self.names(service)):
                    return httpx.Response(200, json=service, headers=headers)
            return httpx.Response(
                404, json={"message": f"service {ref} not found"}, headers=headers
            )
        if path == "/tasks":
            return httpx.Response(200, json=[], headers=headers)
        if path.endswith("/logs-like-stream"):
            return httpx.Response(200, content=b"x" * 200_000, headers=headers)
        return httpx.Response(200 if request.method in ("GET", "HEAD") else 204, headers=headers)

    def names(self, service: dict) -> list[str]:
        return [name for name, known in self.services.items() if known is service]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


@pytest.fixture
def docker() -> FakeDocker:
    return FakeDocker()


@pytest.fixture
def client(docker: FakeDocker) -> Iterator[TestClient]:
    app = create_app(Policy(SETTINGS), transport=httpx.MockTransport(docker))
    with TestClient(app, base_url="http://docker-api:2375") as test_client:
        yield test_client


@pytest.fixture
def swarm(docker: FakeDocker) -> Iterator[TestClient]:
    """The proxy in swarm mode (HUB_SPAWNER=swarm)."""
    app = create_app(Policy(SWARM_SETTINGS), transport=httpx.MockTransport(docker))
    with TestClient(app, base_url="http://docker-api:2375") as test_client:
        yield test_client


def post_create(client: TestClient, body: dict | bytes, name: str = "jupyter-alice"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"{V}/containers/create",
        params={"name": name},
        content=content,
        headers={"Content-Type": "application/json"},
    )


def test_ping_and_version_are_forwarded_with_the_daemons_headers(client, docker) -> None:
    for method, path in [("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/version")]:
        response = client.request(method, path)
        assert response.status_code == 200
        assert response.headers["api-version"] == "1.45"
    assert docker.paths() == ["GET /_ping", "HEAD /_ping", "GET /version"]
    # Hop-by-hop headers of the daemon's connection are not the client's.
    assert response.headers.get("connection") != "close"


def test_an_allowed_create_reaches_the_daemon_unchanged(client, docker) -> None:
    body = json.dumps(spawner_body()).encode()
    response = post_create(client, body)
    assert response.status_code == 201
    assert response.json() == {"Id": CONTAINER_ID, "Warnings": []}
    [sent] = docker.requests
    assert (sent.method, sent.url.path) == ("POST", f"{V}/containers/create")
    assert parse_qsl(sent.url.query.decode()) == [("name", "jupyter-alice")]
    assert sent.content == body
    assert sent.headers["content-type"] == "application/json"


def test_a_refused_create_never_reaches_the_daemon(client, docker) -> None:
    body = spawner_body()
    body["HostConfig"]["Privileged"] = True
    response = post_create(client, body)
    assert response.status_code == 403
    message = response.json()["message"]
    assert message.startswith("docker-api-filter: POST /v1.45/containers/create: ")
    assert "HostConfig.Privileged" in message
    assert docker.requests == []


def test_a_body_over_the_limit_is_refused_unread(docker) -> None:
    small = FilterSettings(**{**SETTINGS.__dict__, "max_body": 100})
    app = create_app(Policy(small), transport=httpx.MockTransport(docker))
    with TestClient(app) as client:
        response = post_create(client, spawner_body())
    assert response.status_code == 413
    assert "larger than 100 bytes" in response.json()["message"]
    assert docker.requests == []


def test_invalid_json_is_a_bad_request(client, docker) -> None:
    assert post_create(client, b"{not json").status_code == 400
    assert docker.requests == []


def test_other_endpoints_are_refused_before_the_daemon(client, docker) -> None:
    for method, path in [
        ("POST", f"{V}/containers/jupyter-alice/exec"),
        ("POST", f"{V}/volumes/create"),
        ("GET", f"{V}/info"),
        ("PUT", f"{V}/containers/jupyter-alice/archive"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 403, path
        assert "not an endpoint DockerSpawner needs" in response.json()["message"]
    assert docker.requests == []


def test_a_stack_container_is_checked_then_acted_on_by_its_id(client, docker) -> None:
    response = client.post(f"{V}/containers/jupyter-alice/stop", params={"t": "10"})
    assert response.status_code == 204
    assert docker.paths() == [
        "GET /containers/jupyter-alice/json",
        f"POST {V}/containers/{CONTAINER_ID}/stop",
    ]
    assert parse_qsl(docker.requests[1].url.query.decode()) == [("t", "10")]


def test_inspect_and_remove_of_a_stack_container(client, docker) -> None:
    assert client.get(f"{V}/containers/jupyter-alice/json").json()["Id"] == CONTAINER_ID
    query = {"v": "True", "link": "False", "force": "False"}
    assert client.delete(f"{V}/containers/jupyter-alice", params=query).status_code == 204
    assert docker.paths()[-1] == f"DELETE {V}/containers/{CONTAINER_ID}"
    assert dict(parse_qsl(docker.requests[-1].url.query.decode())) == query


def test_a_container_without_the_stack_label_is_refused(client, docker) -> None:
    response = client.post(f"{V}/containers/postgres/stop")
    assert response.status_code == 403
    assert "does not carry the stack label" in response.json()["message"]
    assert response.headers["x-docker-api-filter"] == "refused"  # the filter said it
    assert docker.paths() == ["GET /containers/postgres/json"]  # looked at, never stopped


def test_a_missing_container_is_the_daemons_404(client, docker) -> None:
    """DockerSpawner's get_object takes 404 as "my container is gone"."""
    response = client.get(f"{V}/containers/jupyter-bob/json")
    assert response.status_code == 404
    assert response.json() == {"message": "No such container: jupyter-bob"}
    assert "x-docker-api-filter" not in response.headers  # the daemon said it
    assert docker.paths() == ["GET /containers/jupyter-bob/json"]


def test_start_with_a_body_never_reaches_the_daemon(client, docker) -> None:
    response = client.post(f"{V}/containers/jupyter-alice/start", json={"Privileged": True})
    assert response.status_code == 403
    assert docker.requests == []


def test_the_list_is_limited_to_the_stacks_containers(client, docker) -> None:
    filters = json.dumps({"status": ["running"]})
    assert (
        client.get(f"{V}/containers/json", params={"all": "1", "filters": filters}).status_code
        == 200
    )
    [sent] = docker.requests
    query = dict(parse_qsl(sent.url.query.decode()))
    assert query["all"] == "1"
    assert json.loads(query["filters"]) == {
        "status": ["running"],
        "label": [f"{LABEL_KEY}={LABEL_VALUE}"],
    }


def test_a_percent_encoded_path_is_checked_decoded_and_forwarded_as_checked(client, docker) -> None:
    image = IMAGE.replace("/", "%2F")
    assert client.get(f"{V}/images/{image}/json").status_code == 200
    assert docker.paths() == [f"GET {V}/images/{IMAGE}/json"]
    response = client.post(f"{V}/containers/jupyter-alice%2F..%2Fpostgres/stop")
    assert response.status_code == 400
    assert len(docker.requests) == 1


def test_the_pull_keeps_the_registry_auth_header(client, docker) -> None:
    name, tag = IMAGE.rsplit(":", 1)
    response = client.post(
        f"{V}/images/create",
        params={"fromImage": name, "tag": tag},
        headers={"X-Registry-Auth": "e30="},
    )
    assert response.status_code == 204
    assert docker.requests[0].headers["x-registry-auth"] == "e30="


def test_a_long_answer_is_streamed_whole(docker) -> None:
    """No allowed endpoint answers 200 kB in these tests: a policy that allows one."""

    class StreamPolicy(Policy):
        def check(self, method, path, query, body=b""):
            return Decision(True, "test", path=path)

    policy = StreamPolicy(SETTINGS)
    with TestClient(create_app(policy, transport=httpx.MockTransport(docker))) as client:
        response = client.get("/logs-like-stream")
    assert response.status_code == 200 and len(response.content) == 200_000


def test_a_silent_daemon_is_a_502(client, docker) -> None:
    docker.fail = httpx.ConnectError("no socket")
    response = client.get("/_ping")
    assert response.status_code == 502
    assert response.json()["message"].startswith(
        "docker-api-filter: the Docker daemon did not answer"
    )


def test_the_listen_setting() -> None:
    assert listen_address(conf.get("DOCKER_API_FILTER_LISTEN", {})) == ("0.0.0.0", 2375)  # noqa: S104
    assert listen_address("[::]:2375") == ("::", 2375)
    with pytest.raises(conf.SettingError, match="DOCKER_API_FILTER_LISTEN"):
        listen_address("2375")


# --- Swarm mode: services, checked like containers -------------------------------------


def test_an_allowed_service_create_reaches_the_daemon_unchanged(swarm, docker) -> None:
    body = json.dumps(service_body()).encode()
    response = swarm.post(
        f"{V}/services/create",
        content=body,
        headers={"Content-Type": "application/json", "X-Registry-Auth": "e30="},
    )
    assert response.status_code == 201 and response.json() == {"ID": SERVICE_ID}
    [sent] = docker.requests
    assert (sent.method, sent.url.path, sent.url.query) == ("POST", f"{V}/services/create", b"")
    assert sent.content == body
    assert sent.headers["x-registry-auth"] == "e30="


def test_a_refused_service_never_reaches_the_daemon(swarm, docker) -> None:
    body = service_body()
    body["TaskTemplate"]["ContainerSpec"]["CapabilityAdd"] = ["SYS_ADMIN"]
    response = swarm.post(f"{V}/services/create", json=body)
    assert response.status_code == 403
    assert "TaskTemplate.ContainerSpec.CapabilityAdd" in response.json()["message"]
    assert docker.requests == []


def test_containers_are_refused_in_swarm_mode_before_the_daemon(swarm, docker) -> None:
    assert post_create(swarm, spawner_body()).status_code == 403
    response = swarm.post(f"{V}/containers/jupyter-alice/stop")
    assert response.status_code == 403
    assert "not an endpoint SwarmSpawner needs" in response.json()["message"]
    assert docker.requests == []


def test_a_stack_service_is_checked_then_inspected_and_removed_by_its_id(swarm, docker) -> None:
    assert swarm.get(f"{V}/services/jupyter-alice").json()["ID"] == SERVICE_ID
    assert swarm.delete(f"{V}/services/jupyter-alice").status_code == 204
    assert docker.paths() == [
        "GET /services/jupyter-alice",
        f"GET {V}/services/{SERVICE_ID}",
        "GET /services/jupyter-alice",
        f"DELETE {V}/services/{SERVICE_ID}",
    ]


def test_a_service_without_the_stack_label_is_refused(swarm, docker) -> None:
    response = swarm.delete(f"{V}/services/jupyter-monitor")
    assert response.status_code == 403
    assert "service jupyter-monitor: does not carry the stack label" in response.json()["message"]
    assert docker.paths() == ["GET /services/jupyter-monitor"]  # looked at, never removed


def test_a_missing_service_is_the_daemons_404(swarm, docker) -> None:
    """DockerSpawner's get_object takes 404 as "my service is gone"."""
    response = swarm.get(f"{V}/services/jupyter-bob")
    assert response.status_code == 404
    assert response.json() == {"message": "service jupyter-bob not found"}
    assert docker.paths() == ["GET /services/jupyter-bob"]


def test_tasks_are_listed_for_a_stack_service_by_its_id(swarm, docker) -> None:
    filters = {"service": ["jupyter-alice"], "desired-state": ["running"]}
    response = swarm.get(f"{V}/tasks", params={"filters": json.dumps(filters)})
    assert response.status_code == 200 and response.json() == []
    assert docker.paths() == ["GET /services/jupyter-alice", f"GET {V}/tasks"]
    query = dict(parse_qsl(docker.requests[1].url.query.decode()))
    assert json.loads(query["filters"]) == {"service": [SERVICE_ID], "desired-state": ["running"]}


def test_the_tasks_of_another_service_are_never_listed(swarm, docker) -> None:
    """A task carries its service's spec, environment included."""
    filters = json.dumps({"service": ["jupyter-monitor"]})
    response = swarm.get(f"{V}/tasks", params={"filters": filters})
    assert response.status_code == 403
    assert docker.paths() == ["GET /services/jupyter-monitor"]
    response = swarm.get(f"{V}/tasks", params={"filters": json.dumps({"service": ["jupyter-bob"]})})
    assert response.status_code == 404
    assert len(docker.requests) == 2
