"""The Docker API filter's policy: each rule refuses its forbidden variant, naming the field, and
lets DockerSpawner's own requests through (plain dicts, no daemon)."""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest

from docker_api_filter.policy import FilterSettings, Policy, template_pattern
from stackconf import settings as conf
from tests.support.docker_api_bodies import (
    CA,
    CONTAINER_ID,
    IMAGE,
    LABEL_KEY,
    LABEL_VALUE,
    NETWORK,
    POLICY,
    SETTINGS,
    assert_refused,
    spawner_body,
)

V = "/v1.45"


def create(body: Any, name: str = "jupyter-alice", policy: Policy = POLICY):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return policy.check("POST", f"{V}/containers/create", [("name", name)], raw)


def with_host(**changes: Any) -> dict[str, Any]:
    body = spawner_body()
    body["HostConfig"].update(changes)
    return body


# --- What DockerSpawner sends is allowed -----------------------------------------------


def test_dockerspawners_create_is_allowed_with_and_without_the_ca_file() -> None:
    assert create(spawner_body()).allowed
    assert create(spawner_body(ca=False)).allowed
    no_ca = Policy(FilterSettings(**{**SETTINGS.__dict__, "extra_ca_host_path": ""}))
    assert create(spawner_body(ca=False), policy=no_ca).allowed


def test_the_body_docker_py_builds_for_our_config_is_allowed() -> None:
    """Built by docker-py itself, offline (no daemon), from DockerSpawner's create_object."""
    client = docker.APIClient(base_url="tcp://127.0.0.1:9", version="1.45")
    host_config = client.create_host_config(
        auto_remove=True,
        binds={
            "jupyterhub-user-alice": {"bind": "/home/jovyan", "mode": "rw"},
            CA: {"bind": "/etc/ssl/extra-ca.pem", "mode": "ro"},
        },
        links={},
        mounts=[],
        mem_limit="1G",
        cpu_period=100_000,
        cpu_quota=100_000,
        pids_limit=512,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        network_mode=NETWORK,
    )
    body = client.create_container_config(
        image=IMAGE,
        environment={"JUPYTERHUB_API_TOKEN": "secret"},
        volumes=["/etc/ssl/extra-ca.pem", "/home/jovyan"],
        command=["jupyterhub-singleuser"],
        ports={"8888/tcp": None},
        labels={LABEL_KEY: LABEL_VALUE},
        host_config=host_config,
    )
    assert create(dict(body)).allowed


def test_negotiation_and_ping_are_allowed() -> None:
    assert POLICY.check("GET", "/version", []).allowed  # docker-py's version="auto"
    assert POLICY.check("GET", "/_ping", []).allowed
    assert POLICY.check("HEAD", f"{V}/_ping", []).allowed
    assert_refused(POLICY.check("GET", "/info", []), "not an endpoint DockerSpawner needs")
    assert_refused(POLICY.check("POST", "/version", []), "not an endpoint")


def test_the_single_user_image_may_be_inspected_and_pulled_and_no_other() -> None:
    assert POLICY.check("GET", f"{V}/images/{IMAGE}/json", []).allowed
    assert_refused(POLICY.check("GET", f"{V}/images/alpine:3/json", []), "'alpine:3'")
    pull = POLICY.check(
        "POST",
        f"{V}/images/create",
        [("tag", "dev"), ("fromImage", "jupyterhub-keycloak/singleuser")],
    )
    assert pull.allowed
    refused = POLICY.check("POST", f"{V}/images/create", [("fromImage", "evil"), ("tag", "dev")])
    assert_refused(refused, "fromImage/tag")
    bare = POLICY.check(
        "POST", f"{V}/images/create", [("fromImage", "jupyterhub-keycloak/singleuser")]
    )
    assert_refused(bare, "fromImage/tag")  # no tag: every tag of the repository
    imported = POLICY.check("POST", f"{V}/images/create", [("fromSrc", "http://x/rootfs.tar")])
    assert_refused(imported, "'fromSrc'")


def test_an_image_named_without_a_tag_is_pulled_as_latest() -> None:
    policy = Policy(FilterSettings(**{**SETTINGS.__dict__, "image": "registry:5000/team/nb"}))
    query = [("fromImage", "registry:5000/team/nb"), ("tag", "latest")]
    assert policy.check("POST", "/images/create", query).allowed
    assert policy.check("GET", "/images/registry:5000/team/nb/json", []).allowed


# --- Paths and queries -----------------------------------------------------------------


def test_old_api_versions_and_odd_paths_are_refused() -> None:
    assert_refused(POLICY.check("GET", "/v1.23/version", []), "API versions below 1.24")
    for path in [
        "/v1.45/containers/x/../y/start",
        "/v1.45//version",
        "/v1.45/./version",
        "version",
    ]:
        assert_refused(POLICY.check("GET", path, []), "path", 400)
    assert_refused(POLICY.check("GET", "/ver sion", []), "printable ASCII", 400)


def test_a_repeated_or_unknown_query_parameter_is_refused() -> None:
    query = [("name", "jupyter-alice"), ("name", "other")]
    decision = POLICY.check(
        "POST", "/containers/create", query, json.dumps(spawner_body()).encode()
    )
    assert_refused(decision, "'name' is repeated", 400)
    assert_refused(POLICY.check("GET", "/version", [("x", "1")]), "'x' is not allowed")


# --- List: the stack's label is always in the filters ------------------------------------


def _filters(decision) -> dict:
    return json.loads(dict(decision.query)["filters"])


def test_the_list_carries_the_stack_label_filter() -> None:
    decision = POLICY.check("GET", f"{V}/containers/json", [("all", "1")])
    assert decision.allowed
    assert dict(decision.query)["all"] == "1"
    assert _filters(decision) == {"label": [f"{LABEL_KEY}={LABEL_VALUE}"]}


def test_the_callers_filters_are_kept_and_cannot_drop_the_label() -> None:
    given = {"label": ["team=x"], "status": ["running"]}
    decision = POLICY.check("GET", "/containers/json", [("filters", json.dumps(given))])
    assert _filters(decision) == {
        "label": ["team=x", f"{LABEL_KEY}={LABEL_VALUE}"],
        "status": ["running"],
    }
    # The map form Docker also accepts becomes the list form (Docker refuses a mix).
    given_map = {"label": {f"{LABEL_KEY}=other": True}, "name": {"jupyter-": True}}
    decision = POLICY.check("GET", "/containers/json", [("filters", json.dumps(given_map))])
    assert _filters(decision) == {
        "label": [f"{LABEL_KEY}=other", f"{LABEL_KEY}={LABEL_VALUE}"],
        "name": ["jupyter-"],
    }
    assert_refused(POLICY.check("GET", "/containers/json", [("filters", "{")]), "filters", 400)
    bad = POLICY.check("GET", "/containers/json", [("filters", '{"label": 1}')])
    assert_refused(bad, "filters.label", 400)


# --- Create: the container config -------------------------------------------------------


def test_create_needs_a_user_container_name() -> None:
    assert_refused(create(spawner_body(), name="traefik"), "USER_CONTAINER_NAME")
    assert_refused(create(spawner_body(), name=""), "name")
    decision = POLICY.check("POST", "/containers/create", [], json.dumps(spawner_body()).encode())
    assert_refused(decision, "name None")
    assert create(spawner_body(), name="jupyter-alice").allowed


def test_create_body_must_be_one_json_object_without_duplicate_keys() -> None:
    assert_refused(create(b"{"), "not valid JSON", 400)
    assert_refused(create(b"[]"), "JSON object", 400)
    assert_refused(create(b'{"Image": NaN}'), "not", 400)
    duplicate = json.dumps(spawner_body())[:-1] + ', "Image": "alpine"}'
    assert_refused(create(duplicate.encode()), "'Image' twice", 400)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Image": "alpine:3"}, "Image"),
        ({"Image": IMAGE.split(":")[0] + "@sha256:" + "0" * 64}, "Image"),
        ({"Image": None}, "Image"),
        ({"Labels": {}}, "Labels"),
        ({"Labels": None}, "Labels"),
        ({"Labels": {LABEL_KEY: "other"}}, "Labels"),
        ({"User": "0"}, "User"),
        ({"User": "root"}, "User"),
        ({"User": "0:100"}, "User"),
        ({"User": "root:users"}, "User"),
        ({"User": "1000:0"}, "User"),
        ({"User": "000"}, "User"),
        # Docker reads a signed or zero-padded number as a number: these are uid or gid 0.
        ({"User": "+0"}, "User"),
        ({"User": "-0"}, "User"),
        ({"User": "1000:+0"}, "User"),
        ({"User": "+0:1000"}, "User"),
        ({"User": "0001000:00"}, "User"),
        ({"User": " 0"}, "User"),
        ({"User": "1000:100:0"}, "User"),
        ({"User": 1000}, "User"),
        ({"MacAddress": "02:42:ac:11:00:02"}, "MacAddress"),
        ({"Runtime": "nvidia"}, "Runtime"),
        ({"NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}, "NetworkingConfig"),
        ({"NetworkingConfig": {"EndpointsConfig": {NETWORK: {"Aliases": ["hub"]}}}}, "Aliases"),
        ({"NetworkingConfig": {"Other": {}}}, "NetworkingConfig.Other"),
        ({"HostConfig": None}, "HostConfig"),
        ({"ArgsEscaped": True}, "body.ArgsEscaped"),
        ({"image": "alpine"}, "body.image"),  # Go's decoder would take it as Image
    ],
)
def test_a_container_config_rule_refuses(change: dict, field: str) -> None:
    body = spawner_body()
    body.update(change)
    assert_refused(create(body), field)


def test_required_fields_must_be_present() -> None:
    for key in ("Image", "Labels", "HostConfig"):
        body = spawner_body()
        del body[key]
        assert_refused(create(body), f"{key} is missing")
    for key in ("NetworkMode", "CapDrop", "SecurityOpt", "PidsLimit"):
        body = spawner_body()
        del body["HostConfig"][key]
        assert_refused(create(body), f"HostConfig.{key} is missing")


@pytest.mark.parametrize("user", [None, "", "1000", "jovyan", "1000:100"])
def test_a_non_root_user_is_allowed(user: str | None) -> None:
    body = spawner_body()
    body["User"] = user
    assert create(body).allowed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Privileged", True),
        ("CapAdd", ["SYS_ADMIN"]),
        ("CapAdd", "SYS_ADMIN"),
        ("Capabilities", ["CAP_SYS_ADMIN"]),
        ("CapDrop", []),
        ("CapDrop", ["NET_RAW"]),
        ("CapDrop", "ALL"),
        ("SecurityOpt", []),
        ("SecurityOpt", ["no-new-privileges:true", "seccomp=unconfined"]),
        ("SecurityOpt", ["no-new-privileges:true", "apparmor=unconfined"]),
        ("SecurityOpt", ["no-new-privileges:true", "label=disable"]),
        ("SecurityOpt", ["no-new-privileges:true", "label:disable"]),
        ("SecurityOpt", ["no-new-privileges:false"]),
        ("NetworkMode", "host"),
        ("NetworkMode", "container:abc"),
        ("NetworkMode", "bridge"),
        ("NetworkMode", None),
        ("PidMode", "host"),
        ("PidMode", "container:abc"),
        ("IpcMode", "host"),
        ("IpcMode", "shareable"),
        ("UTSMode", "host"),
        ("UsernsMode", "host"),
        ("CgroupnsMode", "host"),
        ("Cgroup", "host"),
        ("CgroupParent", "/"),
        ("Devices", [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
        ("DeviceRequests", [{"Driver": "nvidia", "Count": -1}]),
        ("DeviceCgroupRules", ["a *:* rwm"]),
        ("Sysctls", {"net.ipv4.ip_forward": "1"}),
        ("VolumesFrom", ["hub"]),
        ("VolumeDriver", "local"),
        ("Links", ["hub:hub"]),
        ("ExtraHosts", ["hub:10.0.0.1"]),
        ("GroupAdd", ["0"]),
        ("PortBindings", {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8888"}]}),
        ("PublishAllPorts", True),
        ("OomKillDisable", True),
        ("Runtime", "nvidia"),
        ("Isolation", "hyperv"),
        ("LogConfig", {"Type": "syslog", "Config": {"syslog-address": "udp://x:514"}}),
        ("StorageOpt", {"size": "1T"}),
        ("InitPath", "/usr/bin/evil"),
        ("PidsLimit", 0),
        ("PidsLimit", -1),
        ("PidsLimit", True),
        ("PidsLimit", "512"),
        # The limits are the settings' (1G, 1 CPU, 512 processes), neither more nor none.
        ("PidsLimit", 4096),
        ("Memory", 0),
        ("Memory", 2 << 30),
        ("Memory", 1073741824.0),
        ("CpuQuota", 0),
        ("CpuQuota", 200_000),
        ("CpuQuota", -1),
        ("CpuPeriod", 100),
        ("NanoCpus", 2_000_000_000),
        ("MemorySwap", -1),
        ("MemoryReservation", 2 << 30),
        ("KernelMemory", 2 << 30),
        ("CpuShares", 262_144),
        ("CpuCount", 64),
        ("CPURealtimeRuntime", 950_000),
        ("OomScoreAdj", -1000),
        ("MaskedPaths", []),  # not on the allowlist: unmasking /proc would weaken the sandbox
        ("ReadonlyPaths", []),
        ("privileged", True),  # Go's decoder matches keys case-insensitively
    ],
)
def test_a_host_config_rule_refuses(key: str, value: Any) -> None:
    assert_refused(create(with_host(**{key: value})), f"HostConfig.{key}")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Privileged", False),
        ("CapAdd", None),
        ("CapAdd", []),
        ("CapDrop", ["all", "NET_RAW"]),
        ("SecurityOpt", ["no-new-privileges"]),
        ("SecurityOpt", ["no-new-privileges=true"]),
        ("IpcMode", "private"),
        ("IpcMode", ""),
        ("CgroupnsMode", "private"),
        ("Runtime", "runc"),
        ("ReadonlyRootfs", True),
        ("Init", True),
        ("Tmpfs", {"/tmp": "rw,size=64m"}),
        ("OomKillDisable", False),
        ("ShmSize", 67108864),
        ("CpusetCpus", "0"),
        ("BlkioWeight", 100),
        ("Mounts", None),
    ],
)
def test_a_harmless_host_config_value_is_allowed(key: str, value: Any) -> None:
    assert create(with_host(**{key: value})).allowed, create(with_host(**{key: value})).message


@pytest.mark.parametrize(
    ("bind", "field"),
    [
        ("/:/host", "'/:/host'"),
        ("/var/run/docker.sock:/var/run/docker.sock", "docker.sock"),
        ("postgres:/data", "'postgres:/data'"),
        ("jupyterhub-user-alice", "SOURCE:TARGET"),
        ("jupyterhub-user-alice:/home/jovyan:rw:x", "SOURCE:TARGET"),
        ("jupyterhub-user-alice:/home/jovyan:z", "user volume"),
        ("jupyterhub-user-alice:home", "user volume"),
        (f"{CA}:/etc/passwd:ro", "extra CA"),
        (f"{CA}:/etc/ssl/extra-ca.pem:rw", "extra CA"),
        (f"{CA}:/etc/ssl/extra-ca.pem", "extra CA"),
        (f"{CA}:/etc/ssl/extra-ca.pem:ro,z", "extra CA"),
    ],
)
def test_binds_are_user_volumes_or_the_ca_file(bind: str, field: str) -> None:
    assert_refused(create(with_host(Binds=[bind])), field)


def test_the_ca_file_is_refused_when_no_ca_is_configured() -> None:
    no_ca = Policy(FilterSettings(**{**SETTINGS.__dict__, "extra_ca_host_path": ""}))
    assert_refused(create(spawner_body(ca=True), policy=no_ca), "HostConfig.Binds")


def test_binds_accept_user_volumes_read_only_or_not() -> None:
    assert create(with_host(Binds=["jupyterhub-user-alice:/home/jovyan:ro"])).allowed
    assert create(with_host(Binds=["jupyterhub-user-alice:/data"])).allowed
    assert create(with_host(Binds=None)).allowed
    escaped = with_host(Binds=["jupyterhub-user-bob-2e:/home/jovyan"])  # DockerSpawner's escape
    assert create(escaped, name="jupyter-bob-2e").allowed


@pytest.mark.parametrize(
    "host",
    [
        {"Binds": ["jupyterhub-user-bob:/home/jovyan"]},
        {"Binds": ["jupyterhub-user-alice:/home/jovyan", "jupyterhub-user-bob:/data"]},
        {
            "Binds": None,
            "Mounts": [{"Type": "volume", "Source": "jupyterhub-user-bob", "Target": "/x"}],
        },
    ],
    ids=["bind", "a second bind", "mount"],
)
def test_a_container_mounts_no_other_users_volume(host) -> None:
    assert_refused(create(with_host(**host), name="jupyter-alice"), "belongs to another user")


def _mount(**fields: Any) -> dict[str, Any]:
    return with_host(Mounts=[{"Target": "/home/jovyan", **fields}])


@pytest.mark.parametrize(
    ("mount", "field"),
    [
        ({"Type": "bind", "Source": "/"}, "Mounts[0]: a bind mount"),
        ({"Type": "bind", "Source": CA}, "Mounts[0]: a bind mount"),  # not at the CA target
        ({"Type": "volume", "Source": "postgres"}, "Mounts[0].Source"),
        ({"Type": "volume", "Source": None}, "Mounts[0].Source"),
        (
            {
                "Type": "volume",
                "Source": "jupyterhub-user-alice",
                "VolumeOptions": {
                    "DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}
                },
            },
            "VolumeOptions.DriverConfig",
        ),
        (
            {
                "Type": "volume",
                "Source": "jupyterhub-user-alice",
                "VolumeOptions": {"Subpath": "x"},
            },
            "VolumeOptions.Subpath",
        ),
        (
            {
                "Type": "volume",
                "Source": "jupyterhub-user-alice",
                "BindOptions": {"Propagation": "rshared"},
            },
            "Mounts[0].BindOptions",
        ),
        ({"Type": "npipe", "Source": "x"}, "Mounts[0].Type"),
        ({"Type": "image", "Source": "alpine"}, "Mounts[0].Type"),
        ({"Type": "cluster", "Source": "x"}, "Mounts[0].Type"),
        ({"Type": "tmpfs", "Source": "/"}, "Mounts[0].Source"),
        ({"Type": "volume", "Source": "jupyterhub-user-alice", "type": "bind"}, "Mounts[0].type"),
    ],
)
def test_mounts_are_user_volumes_tmpfs_or_the_ca_file(mount: dict, field: str) -> None:
    assert_refused(create(_mount(**mount)), field)


def test_allowed_mounts() -> None:
    assert create(_mount(Type="volume", Source="jupyterhub-user-alice")).allowed
    assert create(
        _mount(Type="volume", Source="jupyterhub-user-alice", VolumeOptions={"NoCopy": True})
    ).allowed
    assert create(_mount(Type="tmpfs", TmpfsOptions={"SizeBytes": 1 << 20})).allowed
    body = with_host(
        Mounts=[{"Type": "bind", "Source": CA, "Target": "/etc/ssl/extra-ca.pem", "ReadOnly": True}]
    )
    assert create(body).allowed
    body["HostConfig"]["Mounts"][0]["ReadOnly"] = False
    assert_refused(create(body), "Mounts[0].ReadOnly")


def test_a_refusal_never_echoes_the_environment() -> None:
    body = spawner_body()
    body["HostConfig"]["Privileged"] = True
    assert "secret" not in create(body).message


# --- Container endpoints: only for containers carrying the stack's label -----------------


@pytest.mark.parametrize(
    ("method", "suffix", "query"),
    [
        ("GET", "/json", []),
        ("POST", "/start", []),
        ("POST", "/stop", [("t", "10")]),
        ("POST", "/restart", []),
        ("POST", "/kill", [("signal", "SIGKILL")]),
        ("POST", "/wait", [("condition", "removed")]),
        ("DELETE", "", [("v", "True"), ("link", "False"), ("force", "False")]),
    ],
)
def test_container_endpoints_name_the_container_to_check(method, suffix, query) -> None:
    decision = POLICY.check(method, f"{V}/containers/jupyter-alice{suffix}", query)
    assert decision.allowed and (decision.kind, decision.ref) == ("container", "jupyter-alice")
    assert decision.query == tuple(query)
    forwarded = decision.for_object(CONTAINER_ID)
    assert forwarded.path == f"{V}/containers/{CONTAINER_ID}{suffix}"
    assert not forwarded.kind and forwarded.query == tuple(query)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/containers/jupyter-alice/exec"),
        ("POST", "/exec/abc/start"),
        ("POST", "/containers/jupyter-alice/attach"),
        ("GET", "/containers/jupyter-alice/attach/ws"),
        ("PUT", "/containers/jupyter-alice/archive"),
        ("GET", "/containers/jupyter-alice/archive"),
        ("HEAD", "/containers/jupyter-alice/archive"),
        ("GET", "/containers/jupyter-alice/export"),
        ("GET", "/containers/jupyter-alice/logs"),
        ("POST", "/containers/jupyter-alice/update"),
        ("POST", "/containers/jupyter-alice/rename"),
        ("POST", "/containers/jupyter-alice/resize"),
        ("POST", "/containers/jupyter-alice/pause"),
        ("POST", "/containers/prune"),
        ("POST", "/commit"),
        ("POST", "/build"),
        ("POST", "/images/load"),
        ("DELETE", f"/images/{IMAGE}"),
        ("POST", f"/images/{IMAGE}/push"),
        ("POST", "/volumes/create"),
        ("GET", "/volumes"),
        ("DELETE", "/volumes/jupyterhub-user-alice"),
        ("GET", "/networks"),
        ("POST", "/networks/create"),
        ("POST", f"/networks/{NETWORK}/connect"),
        ("POST", "/swarm/init"),
        ("POST", "/plugins/pull"),
        ("GET", "/events"),
        ("GET", "/info"),
        ("POST", "/session"),
    ],
)
def test_everything_else_is_refused(method: str, path: str) -> None:
    assert_refused(POLICY.check(method, V + path, []), "not an endpoint DockerSpawner needs")


def test_start_takes_no_host_config_and_remove_no_link() -> None:
    body = json.dumps({"Privileged": True}).encode()
    assert_refused(
        POLICY.check("POST", "/containers/jupyter-alice/start", [], body),
        "start takes no HostConfig",
    )
    assert POLICY.check("POST", "/containers/jupyter-alice/start", [], b"  ").allowed
    remove = POLICY.check("DELETE", "/containers/jupyter-alice", [("link", "1")])
    assert_refused(remove, "link must be false")
    assert_refused(POLICY.check("POST", "/containers/jupyter-alice/stop", [("x", "1")]), "'x'")
    assert_refused(POLICY.check("POST", "/containers/-x/stop", []), "not a container name", 400)


def test_only_containers_with_the_stack_label_may_be_touched() -> None:
    inspect = {"Id": CONTAINER_ID, "Config": {"Labels": {LABEL_KEY: LABEL_VALUE, "x": "y"}}}
    owner = POLICY.check_object("container", "jupyter-alice", inspect)
    assert owner.allowed and owner.ref == CONTAINER_ID
    for labels in [{}, None, {LABEL_KEY: "other"}, {"x": LABEL_VALUE}]:
        refused = POLICY.check_object(
            "container", "postgres", {"Id": CONTAINER_ID, "Config": {"Labels": labels}}
        )
        assert_refused(refused, f"does not carry the stack label {LABEL_KEY}={LABEL_VALUE}")
    assert_refused(POLICY.check_object("container", "x", {}), "stack label")
    no_id = POLICY.check_object(
        "container", "x", {"Id": "../x", "Config": {"Labels": {LABEL_KEY: LABEL_VALUE}}}
    )
    assert_refused(no_id, "no valid Id", 502)


# --- Settings ------------------------------------------------------------------------


def test_settings_come_from_stackconf() -> None:
    env = {
        "HUB_SPAWNER": "docker",
        "SINGLEUSER_IMAGE": IMAGE,
        "DOCKER_API_STACK_LABEL": "a.b=c",
        "EXTRA_CA_BUNDLE_HOST_PATH": CA,
    }
    settings = FilterSettings.from_env(env)
    assert (settings.image, settings.label_key, settings.label_value) == (IMAGE, "a.b", "c")
    assert settings.users_network == conf.get("USERS_NETWORK", {})
    assert settings.user_volume_name == "jupyterhub-user-{username}"
    assert settings.extra_ca_host_path == CA
    assert settings.max_body == 1024 * 1024
    assert settings.spawner == "docker"
    with pytest.raises(conf.SettingError, match="DOCKER_API_STACK_LABEL must be key=value"):
        FilterSettings.from_env({**env, "DOCKER_API_STACK_LABEL": "novalue="})
    with pytest.raises(conf.SettingError, match="DOCKER_API_FILTER_MAX_BODY"):
        FilterSettings.from_env({**env, "DOCKER_API_FILTER_MAX_BODY": "0"})


def test_a_name_template_becomes_a_pattern() -> None:
    pattern = template_pattern("jupyterhub-user-{username}")
    assert pattern.fullmatch("jupyterhub-user-alice-2e-40x.y_z")
    for name in [
        "jupyterhub-user-",
        "jupyterhub-user-a/b",
        "jupyterhub_user_a",
        "xjupyterhub-user-a",
    ]:
        assert not pattern.fullmatch(name), name
    assert template_pattern("{prefix}-{username}--{servername}").fullmatch("jupyter-bob--")


def test_the_limits_are_required_and_a_cpu_period_of_its_own_is_kept() -> None:
    """No memory limit at all, or none for the CPU, is refused; DockerSpawner may set its own
    CpuPeriod (extra_host_config) when the quota follows it."""
    body = spawner_body()
    del body["HostConfig"]["Memory"]
    assert_refused(create(body), "HostConfig.Memory is missing")
    body = spawner_body()
    del body["HostConfig"]["CpuQuota"]
    assert_refused(create(body), "HostConfig.CpuQuota must be 100000")
    assert create(with_host(CpuPeriod=50_000, CpuQuota=50_000)).allowed
    # The quota of one CPU over half the period: two CPUs.
    assert_refused(create(with_host(CpuPeriod=50_000)), "HostConfig.CpuQuota must be 50000")
    unlimited = Policy(FilterSettings(**{**SETTINGS.__dict__, "user_cpu_limit": 0.0}))
    body = spawner_body()
    for key in ("CpuQuota", "CpuPeriod"):
        del body["HostConfig"][key]
    assert create(body, policy=unlimited).allowed  # USER_CPU_LIMIT=0: no CPU limit


def test_the_limits_come_from_the_settings_as_the_hub_reads_them() -> None:
    env = {
        "HUB_SPAWNER": "docker",
        "USER_MEM_LIMIT": "512M",
        "USER_CPU_LIMIT": "0.5",
        "USER_PIDS_LIMIT": "64",
    }
    settings = FilterSettings.from_env(env)
    assert (settings.user_memory, settings.user_cpu_limit, settings.user_pids_limit) == (
        512 << 20,
        0.5,
        64,
    )
    for wrong in ("1024", "1g", "lots"):  # DockerSpawner refuses these too
        with pytest.raises(conf.SettingError, match="USER_MEM_LIMIT must be a number with K"):
            FilterSettings.from_env({**env, "USER_MEM_LIMIT": wrong})
    with pytest.raises(conf.SettingError, match="USER_PIDS_LIMIT must be > 0"):
        FilterSettings.from_env({**env, "USER_PIDS_LIMIT": "0"})
