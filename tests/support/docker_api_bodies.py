"""What the Docker API filter's unit tests share: the filter's settings (docker mode:
``SETTINGS``, ``POLICY``; swarm mode: ``SWARM_SETTINGS``), the request bodies the hub sends
(DockerSpawner's container create: ``spawner_body``; SwarmSpawner's service create:
``service_body``) and what they are made of, and ``assert_refused`` for a refused request."""

from __future__ import annotations

from typing import Any

from docker_api_filter.policy import FilterSettings, Policy

IMAGE = "jupyterhub-keycloak/singleuser:dev"
NETWORK = "jupyterhub-keycloak-users"
LABEL_KEY, LABEL_VALUE = "org.jupyterhub-keycloak.stack", "jupyterhub-keycloak"
CA = "/srv/ca/extra.pem"
CONTAINER_ID = "3f" * 32

SETTINGS = FilterSettings(
    image=IMAGE,
    users_network=NETWORK,
    label_key=LABEL_KEY,
    label_value=LABEL_VALUE,
    user_volume_name="jupyterhub-user-{username}",
    user_container_name="jupyter-{username}",
    user_memory=1 << 30,  # USER_MEM_LIMIT=1G
    user_cpu_limit=1.0,
    user_pids_limit=512,
    extra_ca_host_path=CA,
)
POLICY = Policy(SETTINGS)


def spawner_body(ca: bool = True) -> dict[str, Any]:
    """What DockerSpawner 14 sends (docker-py 7.2 create_container + create_host_config) for
    hub/jupyterhub_config.py, with extra_create_kwargs={"labels": {stack label}}."""
    binds = ["jupyterhub-user-alice:/home/jovyan:rw"]
    volumes = {"/home/jovyan": {}}
    if ca:
        binds.append(f"{CA}:/etc/ssl/extra-ca.pem:ro")
        volumes["/etc/ssl/extra-ca.pem"] = {}
    return {
        "Hostname": None,
        "Domainname": None,
        "ExposedPorts": {"8888/tcp": None},
        "User": None,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "AttachStdin": False,
        "AttachStdout": True,
        "AttachStderr": True,
        "Env": ["JUPYTERHUB_API_TOKEN=secret", "JUPYTER_IMAGE_SPEC=" + IMAGE],
        "Cmd": ["jupyterhub-singleuser"],
        "Image": IMAGE,
        "Volumes": volumes,
        "NetworkDisabled": False,
        "Entrypoint": None,
        "WorkingDir": None,
        "HostConfig": {
            "Memory": 1073741824,
            "NetworkMode": NETWORK,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges:true"],
            "Binds": binds,
            "Links": [],
            "CpuQuota": 100000,
            "CpuPeriod": 100000,
            "PidsLimit": 512,
            "AutoRemove": True,
            "Mounts": [],
        },
        "NetworkingConfig": None,
        "MacAddress": None,
        "Labels": {LABEL_KEY: LABEL_VALUE},
        "StopSignal": None,
        "Healthcheck": None,
        "StopTimeout": None,
        "Runtime": None,
    }


def assert_refused(decision, field: str, status: int = 403) -> None:
    assert not decision.allowed, decision
    assert decision.status == status
    assert field in decision.message, decision.message
    assert decision.message.startswith("docker-api-filter: ")
    assert "\n" not in decision.message


# --- swarm mode ----------------------------------------------------------------------

SERVICE_ID = "k3x9q2m7w1v8b4n6c0z5r2t7y"
CONSTRAINTS = ("node.role==worker",)
#: The server firewall's settings, as the filter and the hub have them.
FIREWALL_ENV = {
    "USERS_SUBNET": "10.255.224.0/20",
    "USERS_INTERNET_EGRESS": "true",
    "HUB_CONNECT_URL": "http://hub:8081",
    "SWARM_NODE_ADDRESSES": "10.231.0.1,10.231.0.2",
}
SWARM_SETTINGS = FilterSettings(
    **{
        **SETTINGS.__dict__,
        "spawner": "swarm",
        "swarm_user_constraints": CONSTRAINTS,
        "server_firewall_env": tuple(FIREWALL_ENV.items()),
    }
)
VOLUME = {"Type": "volume", "Source": "jupyterhub-user-alice", "Target": "/home/jovyan"}
RUNTIME_TMPFS = {
    "Type": "tmpfs",
    "Target": "/run/user/1000",
    "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 448},
}
CA_BIND = {"Type": "bind", "Source": CA, "Target": "/etc/ssl/extra-ca.pem", "ReadOnly": True}


def service_body(ca: bool = True) -> dict[str, Any]:
    """The service spec the hub sends for alice (docker-py 7 create_service, SwarmSpawner)."""
    mounts = [{**VOLUME, "ReadOnly": False}, {**RUNTIME_TMPFS, "Source": None, "ReadOnly": False}]
    if ca:
        mounts.append(CA_BIND)
    return {
        "Name": "jupyter-alice",
        "Labels": {LABEL_KEY: LABEL_VALUE},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": IMAGE,
                "Command": None,
                "Args": ["jupyterhub-singleuser", "--ServerApp.jpserver_extensions=x=True"],
                "Env": [
                    "JUPYTERHUB_API_TOKEN=secret",
                    "XDG_RUNTIME_DIR=/run/user/1000",
                    *(f"{name}={value}" for name, value in FIREWALL_ENV.items()),
                ],
                "User": "0",
                "Mounts": mounts,
                "CapabilityDrop": ["ALL"],
                "CapabilityAdd": ["CAP_NET_ADMIN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"],
            },
            "Resources": {
                "Limits": {"NanoCPUs": 1_000_000_000, "MemoryBytes": 1 << 30, "Pids": 512},
                "Reservations": {},
            },
            "RestartPolicy": {"Condition": "none", "Delay": 0, "MaxAttempts": 0, "Window": 0},
            "Placement": {"Constraints": ["node.role==worker"]},
            "Networks": [{"Target": NETWORK}],
        },
        "EndpointSpec": {},
    }
