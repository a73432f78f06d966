"""The Docker API filter in swarm mode (HUB_SPAWNER=swarm): SwarmSpawner's services and their
tasks, nothing else. Each rule of a service spec refuses its forbidden variant, naming the
field, and lets what SwarmSpawner sends (through docker-py itself) through; the docker mode
never sees a service endpoint."""

from __future__ import annotations

import asyncio
import copy
import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import docker
import pytest
import requests
from docker.types import Mount, RestartPolicy
from dockerspawner import SwarmSpawner

from docker_api_filter.policy import FilterSettings, Policy
from stackconf import settings as conf
from tests.support.docker_api_bodies import (
    CA,
    CA_BIND,
    CONSTRAINTS,
    CONTAINER_ID,
    FIREWALL_ENV,
    IMAGE,
    LABEL_KEY,
    LABEL_VALUE,
    NETWORK,
    POLICY,
    RUNTIME_TMPFS,
    SERVICE_ID,
    SWARM_SETTINGS,
    VOLUME,
    assert_refused,
    service_body,
    spawner_body,
)
from tests.support.hub_config import load_hub_config
from users_firewall import server as server_firewall

V = "/v1.45"
SWARM = Policy(SWARM_SETTINGS)
#: Marks a key to delete in ``changed``.
DELETE = object()


def changed(path: str, value: Any, body: dict | None = None) -> dict[str, Any]:
    """The service body with the dotted ``path`` set to ``value`` (DELETE: removed)."""
    body = copy.deepcopy(service_body() if body is None else body)
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def create(body: Any, policy: Policy = SWARM, version: str = V, query=()):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return policy.check("POST", f"{version}/services/create", list(query), raw)


def tasks(filters: Any, policy: Policy = SWARM):
    value = filters if isinstance(filters, str) else json.dumps(filters)
    return policy.check("GET", f"{V}/tasks", [("filters", value)])


def assert_allowed(decision) -> None:
    assert decision.allowed, decision.message


# --- Settings ------------------------------------------------------------------------


def test_the_mode_and_the_constraints_come_from_stackconf() -> None:
    settings = FilterSettings.from_env({"HUB_SPAWNER": "swarm"})
    assert settings.spawner == "swarm"
    assert settings.swarm_user_constraints == ("node.role==worker",)  # settings.yml's default
    spaced = {"HUB_SPAWNER": "swarm", "SWARM_USER_CONSTRAINTS": " node.role == worker, a!=b "}
    assert FilterSettings.from_env(spaced).swarm_user_constraints == ("node.role==worker", "a!=b")
    assert FilterSettings.from_env({"HUB_SPAWNER": "docker"}).spawner == "docker"


@pytest.mark.parametrize("spawner", ["local", "standin", "kubernetes", "Docker", ""])
def test_a_spawner_the_filter_does_not_serve_is_a_setting_error(spawner: str) -> None:
    # "" is unset: stackconf's default, local (the native runtime has no Docker API filter).
    with pytest.raises(conf.SettingError, match="HUB_SPAWNER must be docker or swarm"):
        FilterSettings.from_env({"HUB_SPAWNER": spawner})


@pytest.mark.parametrize("constraints", ["node.role", "node.role==", "==worker", "a==b==c"])
def test_a_malformed_constraint_is_a_setting_error(constraints: str) -> None:
    env = {"HUB_SPAWNER": "swarm", "SWARM_USER_CONSTRAINTS": constraints}
    with pytest.raises(conf.SettingError, match="SWARM_USER_CONSTRAINTS: .* is not a placement"):
        FilterSettings.from_env(env)


def test_swarm_mode_needs_a_constraint() -> None:
    env = {"HUB_SPAWNER": "swarm", "SWARM_USER_CONSTRAINTS": " , "}
    with pytest.raises(conf.SettingError, match="SWARM_USER_CONSTRAINTS must name at least one"):
        FilterSettings.from_env(env)
    assert FilterSettings.from_env({**env, "HUB_SPAWNER": "docker"}).spawner == "docker"


# --- What SwarmSpawner sends is allowed ----------------------------------------------


def test_the_hubs_service_is_allowed_with_and_without_the_ca_file() -> None:
    assert_allowed(create(service_body()))
    assert_allowed(create(service_body(ca=False)))
    no_ca = Policy(FilterSettings(**{**SWARM_SETTINGS.__dict__, "extra_ca_host_path": ""}))
    assert_allowed(create(service_body(ca=False), policy=no_ca))
    assert_refused(create(service_body(ca=True), policy=no_ca), "a bind mount may only be")


class Wire(docker.APIClient):
    """docker-py's own client, offline: remembers each request it would send to the daemon
    and answers it as the daemon would."""

    def __init__(self) -> None:
        super().__init__(base_url="tcp://127.0.0.1:9", version="1.45")
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        path = urlsplit(request.url).path.removeprefix(V)
        answers = {
            "/services/create": {"ID": SERVICE_ID},
            "/services/jupyter-alice": {"ID": SERVICE_ID, "Spec": {"Name": "jupyter-alice"}},
            "/tasks": [{"ID": "t1", "Status": {"State": "running"}}],
            f"/images/{IMAGE}/json": {"Config": {"Cmd": ["jupyterhub-singleuser"]}},
        }
        response = requests.Response()
        response.status_code = 201 if path == "/services/create" else 200
        response._content = json.dumps(answers.get(path, "")).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        return response

    def checked(self, policy: Policy = SWARM) -> list:
        """The policy's decision on each request sent, as the proxy would ask for it."""
        decisions = []
        for request in self.sent:
            url = urlsplit(request.url)
            body = request.body or b""
            query = parse_qsl(url.query, keep_blank_values=True)
            raw = body.encode() if isinstance(body, str) else body
            decisions.append(policy.check(request.method, unquote(url.path), query, raw))
        return decisions


class HubSwarmSpawner(SwarmSpawner):
    """SwarmSpawner configured as the hub must for the filter (its own code unchanged): the
    home as a volume, the runtime directory as a tmpfs, the extra CA file read-only."""

    wire: Wire

    async def docker(self, method, *args, **kwargs):
        return getattr(self.wire, method)(*args, **kwargs)

    def get_env(self):
        return {"JUPYTERHUB_API_TOKEN": "secret", "JUPYTER_IMAGE_SPEC": self.image, **FIREWALL_ENV}

    @property
    def mounts(self):
        return [
            Mount("/home/jovyan", self.format_volume_name("jupyterhub-user-{username}", self)),
            Mount("/run/user/1000", None, type="tmpfs", tmpfs_size="1m", tmpfs_mode=0o700),
            Mount("/etc/ssl/extra-ca.pem", CA, type="bind", read_only=True),
        ]


def swarm_spawner(cls: type[SwarmSpawner] = HubSwarmSpawner, **config: Any) -> SwarmSpawner:
    """A spawner for alice, with the stack's settings as hub/jupyterhub_config.py sets them."""
    config = {
        "image": IMAGE,
        "network_name": NETWORK,
        "use_internal_ip": True,
        "name_template": "jupyter-{username}",
        "extra_create_kwargs": {"labels": {LABEL_KEY: LABEL_VALUE}},
        "extra_container_spec": {
            "user": server_firewall.START_USER,
            "cap_drop": ["ALL"],
            "cap_add": list(server_firewall.START_CAPABILITIES),
        },
        "extra_placement_spec": {"constraints": list(CONSTRAINTS)},
        # docker-py's Resources has no pids: the limits as the Engine API spells them.
        "extra_task_spec": {
            "restart_policy": RestartPolicy(condition="none"),
            "resources": {"Limits": {"NanoCPUs": 10**9, "MemoryBytes": 1 << 30, "Pids": 512}},
        },
        **config,
    }
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/")
    spawner = cls(user=user, **config)
    spawner.wire = Wire()
    return spawner


def test_what_swarm_spawner_sends_through_docker_py_is_allowed() -> None:
    """SwarmSpawner's own create_object, get_task and remove_object, their requests built by
    docker-py itself (no daemon): each is allowed, and they are the ones this mode expects."""
    spawner = swarm_spawner()

    async def lifecycle() -> None:
        await spawner.create_object()
        assert await spawner.get_task()
        await spawner.remove_object()

    asyncio.run(lifecycle())
    sent = [f"{r.method} {urlsplit(r.url).path}" for r in spawner.wire.sent]
    assert sent == [
        f"GET {V}/images/{IMAGE}/json",  # get_command: the image's Cmd (c.Spawner.cmd unset)
        f"POST {V}/services/create",
        f"GET {V}/tasks",
        f"GET {V}/services/jupyter-alice",
        f"GET {V}/tasks",
        f"DELETE {V}/services/{SERVICE_ID}",
    ]
    for decision in spawner.wire.checked():
        assert_allowed(decision)
    body = json.loads(spawner.wire.sent[1].body)
    assert body["TaskTemplate"]["ContainerSpec"]["Mounts"][0]["Type"] == "volume"
    assert body["TaskTemplate"]["Networks"] == [{"Target": NETWORK}]
    # The docker mode allows none of the service requests.
    for decision in spawner.wire.checked(POLICY)[1:]:
        assert_refused(decision, "not an endpoint DockerSpawner needs")


def test_swarm_spawners_defaults_are_refused_where_they_break_a_rule() -> None:
    """Stock SwarmSpawner mounts every volume as a bind mount, and docker-py's Resources sets
    no pids limit: the hub has to do both as HubSwarmSpawner above does."""

    class Stock(SwarmSpawner):
        docker = HubSwarmSpawner.docker
        get_env = HubSwarmSpawner.get_env

    binds = swarm_spawner(Stock, volumes={"jupyterhub-user-{username}": "/home/jovyan"})
    asyncio.run(binds.create_object())
    assert_refused(binds.wire.checked()[1], "Mounts[0]: a bind mount may only be the extra CA")
    no_pids = swarm_spawner(
        mem_limit="1G", cpu_limit=1.0, extra_task_spec={"restart_policy": {"Condition": "none"}}
    )
    asyncio.run(no_pids.create_object())
    assert_refused(no_pids.wire.checked()[1], "TaskTemplate.Resources.Limits.Pids is missing")


def test_negotiation_ping_and_the_single_user_image_are_allowed() -> None:
    assert_allowed(SWARM.check("GET", "/version", []))
    assert_allowed(SWARM.check("HEAD", f"{V}/_ping", []))
    assert_allowed(SWARM.check("GET", f"{V}/images/{IMAGE}/json", []))
    assert_refused(SWARM.check("GET", f"{V}/images/alpine:3/json", []), "'alpine:3'")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/containers/create"),
        ("GET", "/containers/json"),
        ("GET", "/containers/jupyter-alice/json"),
        ("POST", "/containers/jupyter-alice/start"),
        ("DELETE", "/containers/jupyter-alice"),
        ("POST", "/images/create"),
        ("GET", "/services"),
        ("GET", "/services/create"),
        ("POST", "/services/jupyter-alice/update"),
        ("GET", "/services/jupyter-alice/logs"),
        ("POST", "/services/jupyter-alice"),
        ("GET", "/tasks/abc"),
        ("GET", "/tasks/abc/logs"),
        ("GET", "/nodes"),
        ("POST", "/nodes/abc/update"),
        ("GET", "/secrets"),
        ("POST", "/secrets/create"),
        ("GET", "/configs"),
        ("GET", "/swarm"),
        ("GET", "/swarm/unlockkey"),
        ("POST", "/swarm/join"),
        ("POST", "/swarm/leave"),
        ("POST", "/volumes/create"),
        ("GET", "/networks"),
        ("POST", "/plugins/pull"),
        ("GET", "/info"),
    ],
)
def test_everything_else_is_refused_in_swarm_mode(method: str, path: str) -> None:
    query = [("name", "jupyter-alice")] if path == "/containers/create" else []
    body = json.dumps(spawner_body()).encode() if path == "/containers/create" else b""
    assert_refused(SWARM.check(method, V + path, query, body), "not an endpoint SwarmSpawner needs")


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("POST", "/services/create", []),
        ("GET", "/services/jupyter-alice", []),
        ("DELETE", f"/services/{SERVICE_ID}", []),
        ("GET", "/tasks", [("filters", '{"service":["jupyter-alice"]}')]),
    ],
)
def test_the_docker_mode_refuses_every_service_endpoint(method, path, query) -> None:
    body = json.dumps(service_body()).encode() if path.endswith("create") else b""
    decision = POLICY.check(method, V + path, query, body)
    assert_refused(decision, "not an endpoint DockerSpawner needs")


# --- Create: the request -------------------------------------------------------------


def test_a_service_is_created_with_api_1_41_or_later_only() -> None:
    assert_refused(create(service_body(), version="/v1.40"), "API 1.41 or later")
    assert_refused(create(service_body(), version="/v1.24"), "API 1.41 or later")
    assert_allowed(create(service_body(), version="/v1.41"))
    assert_allowed(create(service_body(), version=""))  # the daemon's own version


def test_create_takes_no_query_and_one_json_object() -> None:
    assert_refused(create(service_body(), query=[("name", "x")]), "'name' is not allowed")
    assert_refused(create(b"{"), "not valid JSON", 400)
    assert_refused(create(b"[]"), "JSON object", 400)
    nested = json.dumps(service_body()).replace('"Image": ', '"Image": "alpine:3", "Image": ', 1)
    assert_refused(create(nested.encode()), "'Image' twice", 400)


def test_a_refusal_never_echoes_the_environment() -> None:
    decision = create(changed("TaskTemplate.ContainerSpec.CapabilityAdd", ["SYS_ADMIN"]))
    assert_refused(decision, "CapabilityAdd")
    assert "secret" not in decision.message


# --- Create: each rule refuses, naming the field -------------------------------------

TT = "TaskTemplate"
CS = "TaskTemplate.ContainerSpec"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        # The service.
        ("Name", "traefik", "Name 'traefik' does not match USER_CONTAINER_NAME"),
        ("Name", None, "Name None"),
        ("Name", DELETE, "Name is missing"),
        ("Labels", {}, "Labels must be exactly the stack label"),
        ("Labels", None, "Labels"),
        ("Labels", {LABEL_KEY: "other"}, "Labels"),
        ("Labels", {LABEL_KEY: LABEL_VALUE, "com.docker.stack.namespace": "x"}, "Labels"),
        ("Labels", DELETE, "Labels is missing"),
        ("Mode", {"Global": {}}, "Mode.Global"),
        ("Mode", {"ReplicatedJob": {}}, "Mode.ReplicatedJob"),
        ("Mode", {"Replicated": {"Replicas": 2}}, "Mode.Replicated.Replicas must be 1"),
        ("Mode", {"replicated": {"Replicas": 0}}, "Mode.replicated.Replicas"),
        ("Mode", {"Replicated": {"Replicas": True}}, "Replicas"),
        ("Mode", {"Replicated": {}, "replicated": {"Replicas": 9}}, "Mode must be one"),
        ("Mode", {}, "Mode must be one"),
        ("Mode", {"Replicated": {"MaxConcurrent": 2}}, "Mode.Replicated.MaxConcurrent"),
        ("UpdateConfig", {"Parallelism": 1}, "UpdateConfig"),
        ("RollbackConfig", {"Parallelism": 1}, "RollbackConfig"),
        ("Networks", [{"Target": "bridge"}], "Networks must be absent"),
        ("EndpointSpec", {"Ports": [{"TargetPort": 8888, "PublishedPort": 8888}]}, "Ports"),
        ("EndpointSpec", {"Mode": "other"}, "EndpointSpec.Mode"),
        ("EndpointSpec", {"Other": 1}, "EndpointSpec.Other"),
        ("EndpointSpec", [], "EndpointSpec must be a JSON object"),
        ("name", "x", "body.name"),  # Go's decoder would take it as Name
        ("TaskTemplate", DELETE, "TaskTemplate is missing"),
        # The task template.
        (
            f"{TT}.LogDriver",
            {"Name": "syslog", "Options": {"syslog-address": "udp://x"}},
            "LogDriver",
        ),
        (f"{TT}.PluginSpec", {"Name": "evil/plugin"}, "PluginSpec"),
        (f"{TT}.NetworkAttachmentSpec", {"ContainerID": "x"}, "NetworkAttachmentSpec"),
        (f"{TT}.Runtime", "plugin", "TaskTemplate.Runtime"),
        (f"{TT}.ForceUpdate", -1, "TaskTemplate.ForceUpdate"),
        (f"{TT}.Other", 1, "TaskTemplate.Other"),
        (f"{TT}.containerSpec", {}, "TaskTemplate.containerSpec"),
        (f"{TT}.ContainerSpec", DELETE, "TaskTemplate.ContainerSpec is missing"),
        (f"{TT}.Resources", DELETE, "TaskTemplate.Resources is missing"),
        (f"{TT}.Placement", DELETE, "TaskTemplate.Placement is missing"),
        (f"{TT}.Networks", DELETE, "TaskTemplate.Networks is missing"),
        # Networks: the users network alone, without aliases.
        (f"{TT}.Networks", [], "Networks must be the users network"),
        (f"{TT}.Networks", [{"Target": "bridge"}], "Networks[0].Target must be the users"),
        (f"{TT}.Networks", [{"Target": "ingress"}], "Networks[0].Target"),
        (f"{TT}.Networks", [NETWORK], "Networks[0] must be a JSON object"),
        (f"{TT}.Networks", [{"Target": NETWORK}, {"Target": NETWORK}], "users network"),
        (f"{TT}.Networks", [{"Target": NETWORK, "Aliases": ["hub"]}], "Networks[0].Aliases"),
        (f"{TT}.Networks", [{"Target": NETWORK, "DriverOpts": {"a": "b"}}], "DriverOpts"),
        (f"{TT}.Networks", [{"target": NETWORK}], "Networks[0].target"),
        # Restart policy: a server that ended stays ended.
        (f"{TT}.RestartPolicy", {"Condition": "any"}, "RestartPolicy.Condition"),
        (f"{TT}.RestartPolicy", {"Delay": 1}, "RestartPolicy.Condition is missing"),
        (f"{TT}.RestartPolicy", {"Condition": "none", "Delay": -1}, "RestartPolicy.Delay"),
        (f"{TT}.RestartPolicy", {"Condition": "none", "X": 1}, "RestartPolicy.X"),
        # Placement: exactly SWARM_USER_CONSTRAINTS.
        (f"{TT}.Placement", {}, "Placement.Constraints is missing"),
        (f"{TT}.Placement.Constraints", [], "Constraints must be exactly SWARM_USER_CONSTRAINTS"),
        (f"{TT}.Placement.Constraints", ["node.role==manager"], "Constraints"),
        (f"{TT}.Placement.Constraints", ["node.role!=worker"], "Constraints"),
        (f"{TT}.Placement.Constraints", ["node.role==worker", "node.id==x"], "Constraints"),
        (f"{TT}.Placement.Constraints", ["node.role==worker", "node.role==worker"], "Constraints"),
        (f"{TT}.Placement.Constraints", "node.role==worker", "Constraints must be a list"),
        (f"{TT}.Placement.constraints", [], "Placement.constraints"),
        # Resources: every limit set and positive.
        (f"{TT}.Resources", {}, "Resources.Limits is missing"),
        (f"{TT}.Resources.Limits.Pids", DELETE, "Limits.Pids is missing"),
        (f"{TT}.Resources.Limits.MemoryBytes", DELETE, "Limits.MemoryBytes is missing"),
        (f"{TT}.Resources.Limits.NanoCPUs", DELETE, "Limits.NanoCPUs is missing"),
        (f"{TT}.Resources.Limits.Pids", 0, "Limits.Pids must be 512 (USER_PIDS_LIMIT)"),
        (f"{TT}.Resources.Limits.Pids", 4096, "Limits.Pids must be 512"),
        (f"{TT}.Resources.Limits.MemoryBytes", 2 << 30, "Limits.MemoryBytes must be 1073741824"),
        (f"{TT}.Resources.Limits.NanoCPUs", 2 * 10**9, "Limits.NanoCPUs must be 1000000000"),
        (f"{TT}.Resources.Reservations", {"MemoryBytes": 2 << 30}, "Reservations.MemoryBytes"),
        (f"{TT}.Resources.Reservations", {"NanoCPUs": 2 * 10**9}, "Reservations.NanoCPUs"),
        (f"{TT}.Resources.Limits.Pids", -1, "Limits.Pids"),
        (f"{TT}.Resources.Limits.Pids", True, "Limits.Pids"),
        (f"{TT}.Resources.Limits.MemoryBytes", 0, "Limits.MemoryBytes"),
        (f"{TT}.Resources.Limits.NanoCPUs", "1", "Limits.NanoCPUs"),
        (f"{TT}.Resources.Limits.GenericResources", [], "Limits.GenericResources"),
        (f"{TT}.Resources.Reservations", {"GenericResources": []}, "GenericResources"),
        (f"{TT}.Resources.Reservations", {"NanoCPUs": -1}, "Reservations.NanoCPUs"),
        (f"{TT}.Resources.SwapBytes", 0, "Resources.SwapBytes"),
        # The container: image, user, capabilities, privileges.
        (f"{CS}.Image", "alpine:3", "ContainerSpec.Image"),
        (f"{CS}.Image", IMAGE.split(":")[0] + "@sha256:" + "0" * 64, "ContainerSpec.Image"),
        (f"{CS}.Image", DELETE, "ContainerSpec.Image is missing"),
        (f"{CS}.image", IMAGE, "ContainerSpec.image"),
        (f"{CS}.Labels", {"x": "y"}, "ContainerSpec.Labels must be absent or exactly"),
        # Root, so that its entrypoint sets the server's firewall (then it is uid 1000).
        (f"{CS}.User", "1000", "ContainerSpec.User must be '0'"),
        (f"{CS}.User", "root:root", "ContainerSpec.User"),
        (f"{CS}.User", "0:0", "ContainerSpec.User"),
        (f"{CS}.User", DELETE, "ContainerSpec.User is missing"),
        # Another entrypoint, or a healthcheck, would run as root with those capabilities.
        (f"{CS}.Command", ["/bin/sh", "-c", "iptables -F"], "ContainerSpec.Command"),
        (f"{CS}.Healthcheck", {"Test": ["CMD", "iptables", "-F"]}, "ContainerSpec.Healthcheck"),
        (f"{CS}.Hostname", "hub", "ContainerSpec.Hostname"),
        (f"{CS}.Hosts", ["10.0.0.66 hub"], "ContainerSpec.Hosts"),
        (f"{CS}.Groups", ["0"], "ContainerSpec.Groups"),
        (f"{CS}.Secrets", [{"SecretID": "x", "SecretName": "db"}], "ContainerSpec.Secrets"),
        (f"{CS}.Configs", [{"ConfigID": "x", "ConfigName": "c"}], "ContainerSpec.Configs"),
        (f"{CS}.Sysctls", {"net.ipv4.ip_forward": "1"}, "ContainerSpec.Sysctls"),
        (f"{CS}.CapabilityAdd", ["SYS_ADMIN"], "ContainerSpec.CapabilityAdd must be exactly"),
        (f"{CS}.CapabilityAdd", [], "ContainerSpec.CapabilityAdd must be exactly"),
        (f"{CS}.CapabilityAdd", None, "ContainerSpec.CapabilityAdd must be exactly"),
        (f"{CS}.CapabilityAdd", DELETE, "ContainerSpec.CapabilityAdd is missing"),
        (
            f"{CS}.CapabilityAdd",
            ["CAP_NET_ADMIN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN"],
            "ContainerSpec.CapabilityAdd must be exactly",
        ),
        (
            f"{CS}.CapabilityAdd",
            ["CAP_NET_ADMIN", "NET_ADMIN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"],
            "ContainerSpec.CapabilityAdd must be exactly",
        ),
        # The environment: none of the loader's variables, the firewall's settings as given.
        (f"{CS}.Env.1", "LD_PRELOAD=/home/jovyan/x.so", "LD_PRELOAD is not allowed"),
        (f"{CS}.Env.1", "LD_LIBRARY_PATH=/home/jovyan", "LD_LIBRARY_PATH is not allowed"),
        (f"{CS}.Env.1", "GLIBC_TUNABLES=glibc.x=1", "GLIBC_TUNABLES is not allowed"),
        (f"{CS}.Env.1", "USERS_SUBNET=10.255.224.0/20", "USERS_SUBNET is given twice"),
        (f"{CS}.Env.1", "no-equals-sign", "ContainerSpec.Env[1] is not NAME=value"),
        (f"{CS}.Env.2", "USERS_SUBNET=0.0.0.0/32", "must set USERS_SUBNET='10.255.224.0/20'"),
        (f"{CS}.Env.3", "USERS_INTERNET_EGRESS=yes", "must set USERS_INTERNET_EGRESS="),
        (f"{CS}.Env.4", "HUB_CONNECT_URL=http://hub:8888", "must set HUB_CONNECT_URL="),
        (f"{CS}.Env.5", "SWARM_NODE_ADDRESSES=", "must set SWARM_NODE_ADDRESSES="),
        (f"{CS}.Env.5", "OTHER=1", "must set SWARM_NODE_ADDRESSES="),
        (f"{CS}.Env", None, "must set USERS_SUBNET="),
        (f"{CS}.Env", DELETE, "ContainerSpec.Env is missing"),
        (f"{CS}.CapabilityDrop", [], 'CapabilityDrop must contain "ALL"'),
        (f"{CS}.CapabilityDrop", ["NET_RAW"], "ContainerSpec.CapabilityDrop"),
        (f"{CS}.CapabilityDrop", DELETE, "ContainerSpec.CapabilityDrop is missing"),
        (f"{CS}.Privileges", {"SELinuxContext": {"Disable": True}}, "SELinuxContext"),
        (f"{CS}.Privileges", {"Seccomp": {"Mode": "unconfined"}}, "Privileges.Seccomp"),
        (f"{CS}.Privileges", {"AppArmor": {"Mode": "disabled"}}, "Privileges.AppArmor"),
        (f"{CS}.Privileges", {"CredentialSpec": {"File": "x"}}, "Privileges.CredentialSpec"),
        (f"{CS}.Privileges", {"NoNewPrivileges": "yes"}, "Privileges.NoNewPrivileges"),
        (f"{CS}.Isolation", "hyperv", "ContainerSpec.Isolation"),
        (f"{CS}.OomScoreAdj", -1000, "ContainerSpec.OomScoreAdj"),
        (f"{CS}.Capabilities", ["CAP_SYS_ADMIN"], "ContainerSpec.Capabilities"),
        (f"{CS}.Devices", [{"PathOnHost": "/dev/sda"}], "ContainerSpec.Devices"),
    ],
)
def test_a_service_rule_refuses(path: str, value: Any, field: str) -> None:
    assert_refused(create(changed(path, value)), field)


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        ({"Type": "bind", "Source": "/", "Target": "/host"}, "a bind mount may only be"),
        (
            {"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock"},
            "a bind mount may only be",
        ),
        ({**CA_BIND, "ReadOnly": False}, "Mounts[2].ReadOnly must be true"),
        ({**CA_BIND, "Target": "/etc/passwd"}, "a bind mount may only be"),
        ({**CA_BIND, "BindOptions": {"Propagation": "rshared"}}, "Mounts[2].BindOptions"),
        ({**VOLUME, "Source": "postgres"}, 'Mounts[2].Source "postgres" is not a user volume'),
        ({**VOLUME, "Source": "jupyterhub-user-bob"}, "belongs to another user"),
        (
            {**VOLUME, "VolumeOptions": {"DriverConfig": {"Options": {"o": "bind"}}}},
            "VolumeOptions.DriverConfig",
        ),
        ({**VOLUME, "VolumeOptions": {"Subpath": "x"}}, "VolumeOptions.Subpath"),
        ({**RUNTIME_TMPFS, "Target": "/tmp"}, "Mounts[2].Target '/tmp': a tmpfs goes at"),
        ({**RUNTIME_TMPFS, "Target": "/home/jovyan"}, "a tmpfs goes at"),
        ({**RUNTIME_TMPFS, "Source": "/etc"}, "Mounts[2].Source"),
        ({"Type": "npipe", "Source": "x", "Target": "/x"}, "Mounts[2].Type"),
        ({"Type": "cluster", "Source": "x", "Target": "/x"}, "Mounts[2].Type"),
        ({"Type": "image", "Source": "alpine", "Target": "/x"}, "Mounts[2].Type"),
        ({**VOLUME, "Target": "home"}, "Mounts[2].Target must be an absolute path"),
        ({**VOLUME, "ClusterOptions": {}}, "Mounts[2].ClusterOptions"),
    ],
)
def test_mounts_are_the_users_volume_the_runtime_tmpfs_and_the_ca_file(mount, field) -> None:
    assert_refused(create(changed(f"{CS}.Mounts.2", mount)), field)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("Mode", None),
        ("Mode", {"Replicated": {}}),
        ("Mode", {"Replicated": {"Replicas": 1}}),
        ("Mode", {"replicated": {}}),  # docker-py's ServiceMode("replicated")
        ("EndpointSpec", DELETE),
        ("EndpointSpec", {"Mode": "vip"}),
        ("EndpointSpec", {"Mode": "dnsrr", "Ports": []}),
        ("Networks", None),
        (f"{TT}.RestartPolicy", DELETE),
        (f"{TT}.RestartPolicy", {"Condition": "on-failure", "MaxAttempts": 3}),
        (f"{TT}.ForceUpdate", 2),
        (f"{TT}.Runtime", "container"),
        (f"{TT}.Placement.Constraints", ["node.role == worker"]),
        (f"{TT}.Placement.Preferences", [{"Spread": {"SpreadDescriptor": "node.labels.az"}}]),
        (f"{TT}.Resources.Reservations", DELETE),
        (f"{TT}.Resources.Reservations", {"NanoCPUs": 0, "MemoryBytes": 1 << 28}),
        (f"{CS}.Labels", {LABEL_KEY: LABEL_VALUE}),
        (f"{CS}.Labels", None),
        (f"{CS}.Hostname", ""),
        (f"{CS}.Command", None),
        (f"{CS}.Command", []),
        (f"{CS}.Env.1", "TERM=xterm"),
        (f"{CS}.Privileges", {"NoNewPrivileges": True}),
        (f"{CS}.Privileges", None),
        (f"{CS}.CapabilityDrop", ["all", "NET_RAW"]),
        (f"{CS}.CapabilityAdd", ["net_admin", "SETGID", "CAP_SETPCAP", "cap_setuid"]),
        (f"{CS}.OomScoreAdj", 500),
        (f"{CS}.ReadOnly", True),
        (f"{CS}.Init", True),
        (f"{CS}.Dir", "/home/jovyan"),
        (f"{CS}.StopGracePeriod", 10_000_000_000),
        (f"{CS}.Mounts", None),
        (f"{CS}.Mounts.0.ReadOnly", True),
        (f"{CS}.Mounts.0.VolumeOptions", {"NoCopy": True}),
        (f"{CS}.Mounts.1.TmpfsOptions", {"SizeBytes": 1 << 20, "Mode": 1023}),
    ],
)
def test_a_harmless_service_value_is_allowed(path: str, value: Any) -> None:
    assert_allowed(create(changed(path, value)))


def test_the_users_volume_goes_with_the_service_name() -> None:
    bob = changed(f"{CS}.Mounts.0.Source", "jupyterhub-user-bob")
    assert_refused(create(bob), "'jupyterhub-user-bob' belongs to another user than")
    assert_allowed(create(changed("Name", "jupyter-bob", bob)))
    escaped = changed(
        "Name", "jupyter-bob-2e", changed(f"{CS}.Mounts.0.Source", "jupyterhub-user-bob-2e")
    )
    assert_allowed(create(escaped))


def test_the_constraints_are_the_settings() -> None:
    two = ("node.role==worker", "node.labels.jupyter==yes")
    policy = Policy(FilterSettings(**{**SWARM_SETTINGS.__dict__, "swarm_user_constraints": two}))
    assert_refused(create(service_body(), policy=policy), "Constraints must be exactly")
    body = changed(
        f"{TT}.Placement.Constraints", ["node.role==worker", "node.labels.jupyter == yes"]
    )
    assert_allowed(create(body, policy=policy))
    reordered = changed(f"{TT}.Placement.Constraints", list(reversed(two)))
    assert_refused(create(reordered, policy=policy), "Constraints")


# --- Services and their tasks: only the stack's ---------------------------------------


@pytest.mark.parametrize(
    ("method", "ref", "query"),
    [
        ("GET", "jupyter-alice", []),
        ("GET", "jupyter-alice", [("insertDefaults", "1")]),
        ("DELETE", SERVICE_ID, []),
        ("DELETE", "jupyter-alice", []),
    ],
)
def test_service_endpoints_name_the_service_to_check(method, ref, query) -> None:
    decision = SWARM.check(method, f"{V}/services/{ref}", query)
    assert decision.allowed and (decision.kind, decision.ref) == ("service", ref)
    assert decision.query == tuple(query)
    assert SWARM.inspect_path(decision.kind, decision.ref) == f"/services/{ref}"
    forwarded = decision.for_object(SERVICE_ID)
    assert forwarded.path == f"{V}/services/{SERVICE_ID}"
    assert not forwarded.kind and forwarded.query == tuple(query)


def test_service_endpoints_take_no_body_and_no_other_parameter() -> None:
    body = json.dumps({"Privileged": True}).encode()
    assert_refused(SWARM.check("DELETE", f"{V}/services/jupyter-alice", [], body), "a body")
    remove = SWARM.check("DELETE", f"{V}/services/jupyter-alice", [("force", "1")])
    assert_refused(remove, "'force' is not allowed")
    inspect = SWARM.check("GET", f"{V}/services/jupyter-alice", [("size", "1")])
    assert_refused(inspect, "'size' is not allowed")
    assert_refused(SWARM.check("GET", f"{V}/services/-x", []), "not a service name", 400)


def test_only_services_with_the_stack_label_may_be_touched() -> None:
    inspect = {"ID": SERVICE_ID, "Spec": {"Labels": {LABEL_KEY: LABEL_VALUE}}}
    owner = SWARM.check_object("service", "jupyter-alice", inspect)
    assert owner.allowed and owner.ref == SERVICE_ID
    for labels in [{}, None, {LABEL_KEY: "other"}, {"x": LABEL_VALUE}]:
        refused = SWARM.check_object(
            "service", "jupyter-x", {"ID": SERVICE_ID, "Spec": {"Labels": labels}}
        )
        assert_refused(refused, f"service jupyter-x: does not carry the stack label {LABEL_KEY}=")
    # A container's labels are not a service's.
    container_like = {"ID": SERVICE_ID, "Config": {"Labels": {LABEL_KEY: LABEL_VALUE}}}
    assert_refused(SWARM.check_object("service", "x", container_like), "stack label")
    for bad_id in [CONTAINER_ID, "../x", None, SERVICE_ID.upper()]:
        refused = SWARM.check_object("service", "x", {**inspect, "ID": bad_id})
        assert_refused(refused, "the daemon gave no valid ID", 502)


@pytest.mark.parametrize(
    "filters",
    [
        {"service": ["jupyter-alice"]},
        {"service": ["jupyter-alice"], "desired-state": ["running"]},
        {"service": {"jupyter-alice": True}, "desired-state": {"shutdown": True}},
    ],
)
def test_tasks_are_listed_for_one_user_service_checked_by_the_proxy(filters) -> None:
    decision = tasks(filters)
    assert decision.allowed and (decision.kind, decision.ref) == ("service", "jupyter-alice")
    assert decision.path == f"{V}/tasks"
    forwarded = decision.for_object(SERVICE_ID)
    assert forwarded.path == f"{V}/tasks" and not forwarded.kind
    [(name, value)] = forwarded.query
    wanted = {k: list(v) for k, v in filters.items()}
    assert name == "filters" and json.loads(value) == {**wanted, "service": [SERVICE_ID]}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({}, "filters.service must be one service"),
        ({"service": []}, "filters.service"),
        ({"service": ["jupyter-alice", "jupyter-bob"]}, "filters.service"),
        ({"service": ["postgres"]}, "USER_CONTAINER_NAME"),
        ({"service": [SERVICE_ID]}, "USER_CONTAINER_NAME"),
        ({"service": ["jupyter-alice"], "label": ["x=y"]}, "filters.label is not allowed"),
        ({"service": ["jupyter-alice"], "node": ["n1"]}, "filters.node"),
        ({"service": ["jupyter-alice"], "desired-state": ["bogus"]}, "filters.desired-state"),
        ({"service": ["jupyter-alice"], "desired-state": []}, "filters.desired-state"),
        ({"service": "jupyter-alice"}, "filters.service must be a list of strings"),
    ],
)
def test_other_task_lists_are_refused(filters, field) -> None:
    status = 400 if "list of strings" in field else 403
    assert_refused(tasks(filters), field, status)


def test_tasks_need_filters_and_no_other_parameter() -> None:
    assert_refused(SWARM.check("GET", f"{V}/tasks", []), "filters is missing")
    assert_refused(tasks("{"), "filters is not valid JSON", 400)
    query = [("filters", '{"service":["jupyter-alice"]}'), ("all", "1")]
    assert_refused(SWARM.check("GET", f"{V}/tasks", query), "'all' is not allowed")


def test_the_hub_configs_swarm_servers_pass_a_filter_of_the_same_settings(monkeypatch) -> None:
    """hub/jupyterhub_config.py's SwarmSpawner settings (user, capabilities, the firewall's
    environment), read from the same environment as the filter's: allowed; a hub with another
    value of a firewall setting than the filter's: refused."""
    env = {
        "HUB_SPAWNER": "swarm",
        "SWARM_NODE_ADDRESSES": "192.0.2.7,192.0.2.8",
        "USERS_INTERNET_EGRESS": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_hub_config()
    policy = Policy(
        FilterSettings(
            **{
                **SWARM_SETTINGS.__dict__,
                "server_firewall_env": FilterSettings.from_env().server_firewall_env,
            }
        )
    )
    hub_env = dict(config.Spawner.environment)
    assert {name: hub_env[name] for name in env if name != "HUB_SPAWNER"} == {
        "SWARM_NODE_ADDRESSES": "192.0.2.7,192.0.2.8",
        "USERS_INTERNET_EGRESS": "false",
    }

    class Hub(HubSwarmSpawner):
        def get_env(self):
            return {"JUPYTERHUB_API_TOKEN": "secret", **hub_env}

    spawner = swarm_spawner(Hub, extra_container_spec=config.SwarmSpawner.extra_container_spec)
    asyncio.run(spawner.create_object())
    assert_allowed(spawner.wire.checked(policy)[1])
    hub_env["SWARM_NODE_ADDRESSES"] = "192.0.2.7"
    other = swarm_spawner(Hub, extra_container_spec=config.SwarmSpawner.extra_container_spec)
    asyncio.run(other.create_object())
    assert_refused(other.wire.checked(policy)[1], "must set SWARM_NODE_ADDRESSES='192.0.2.7,")
