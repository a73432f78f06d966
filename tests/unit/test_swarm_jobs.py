"""swarm_runtime.jobs: a one-shot job of compose/swarm.yml's x-swarm as `docker run` arguments.

The services are shaped like `docker compose config --format json` renders compose.yml's
``hub-volumes`` and ``idp`` (synthetic paths, no secret values).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from swarm_runtime.jobs import run_argv
from swarm_runtime.stackfile import StackFileError

PROJECT = "jupyterhub-keycloak"
REGISTRY = "10.0.0.5:5000"
HUB_IMAGE = "jupyterhub-keycloak/hub:dev"
SECRETS_FILE = "/repo/.state/secrets.env"
#: The label `docker stack` and `swarm-runtime clean` find the stack's volumes by.
LABEL = f"volume-label=com.docker.stack.namespace={PROJECT}"
CONFIG: dict[str, Any] = {
    "name": PROJECT,
    "networks": {
        "edge": {"name": f"{PROJECT}_edge", "driver": "overlay", "attachable": True},
        "backend": {"name": f"{PROJECT}_backend", "driver": "overlay", "attachable": True},
    },
    "volumes": {
        "traefik-dynamic": {"name": f"{PROJECT}_traefik-dynamic"},
        "unnamed": {},
    },
    "secrets": {"stack-secrets": {"name": f"{PROJECT}_stack-secrets", "file": SECRETS_FILE}},
}
HUB_VOLUMES: dict[str, Any] = {
    "cap_add": ["CHOWN"],
    "cap_drop": ["ALL"],
    "command": None,
    "entrypoint": ["chown", "jupyterhub:jupyterhub", "/srv/traefik-dynamic"],
    "image": HUB_IMAGE,
    "mem_limit": "67108864",
    "network_mode": "none",
    "restart": "no",
    "security_opt": ["no-new-privileges:true"],
    "user": "0:0",
    "volumes": [
        {
            "type": "volume",
            "source": "traefik-dynamic",
            "target": "/srv/traefik-dynamic",
            "volume": {},
        }
    ],
}
IDP: dict[str, Any] = {
    "cap_drop": ["ALL"],
    "command": ["idpctl", "apply", "--idp-dir", "/srv/idp"],
    "depends_on": {"keycloak": {"condition": "service_healthy", "required": True}},
    "entrypoint": None,
    "environment": {
        "KEYCLOAK_ADMIN_URL": "http://keycloak:8080/auth",
        "SECRETS_FILE": "/run/secrets/stack-secrets",
        "UNSET": None,
    },
    "image": HUB_IMAGE,
    "mem_limit": "268435456",
    "networks": {"edge": None},
    "restart": "no",
    "secrets": [{"source": "stack-secrets", "target": "/run/secrets/stack-secrets"}],
    "security_opt": ["no-new-privileges:true"],
    "user": "0:0",
    "volumes": [
        {
            "type": "bind",
            "source": "/repo/idp",
            "target": "/srv/idp",
            "read_only": True,
            "bind": {"create_host_path": True},
        }
    ],
}


def argv(name: str, spec: dict[str, Any], **files: str) -> list[str]:
    return run_argv(
        name,
        spec,
        config=CONFIG,
        registry=REGISTRY,
        secret_files=files or {"stack-secrets": SECRETS_FILE},
    )


def job(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(base)
    spec.update(changes)
    return spec


def test_hub_volumes_runs_its_entrypoints_words_as_docker_would() -> None:
    assert argv("hub-volumes", HUB_VOLUMES) == [
        "run",
        "--rm",
        "--name",
        f"{PROJECT}-hub-volumes-job",
        "--network",
        "none",
        "--user",
        "0:0",
        "--memory",
        "67108864",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CHOWN",
        "--security-opt",
        "no-new-privileges:true",
        "--mount",
        f"type=volume,source={PROJECT}_traefik-dynamic,target=/srv/traefik-dynamic,{LABEL}",
        # `--entrypoint` takes one word; the others lead the command.
        "--entrypoint",
        "chown",
        f"{REGISTRY}/{HUB_IMAGE}",
        "jupyterhub:jupyterhub",
        "/srv/traefik-dynamic",
    ]


def test_idp_runs_on_the_stacks_network_with_its_secret_file_read_only() -> None:
    assert argv("idp", IDP) == [
        "run",
        "--rm",
        "--name",
        f"{PROJECT}-idp-job",
        "--network",
        f"{PROJECT}_edge",
        "--user",
        "0:0",
        "--memory",
        "268435456",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--env",
        "KEYCLOAK_ADMIN_URL=http://keycloak:8080/auth",
        "--env",
        "SECRETS_FILE=/run/secrets/stack-secrets",
        "--env",
        "UNSET=",
        "--mount",
        "type=bind,source=/repo/idp,target=/srv/idp,readonly",
        "--mount",
        f"type=bind,source={SECRETS_FILE},target=/run/secrets/stack-secrets,readonly",
        f"{REGISTRY}/{HUB_IMAGE}",
        "idpctl",
        "apply",
        "--idp-dir",
        "/srv/idp",
    ]


def test_an_entrypoints_other_words_come_before_the_command() -> None:
    spec = job(IDP, entrypoint=["/usr/local/bin/secrets-env", "with-extra-ca"], command=["x"])
    out = argv("idp", spec)
    assert out[out.index("--entrypoint") + 1] == "/usr/local/bin/secrets-env"
    assert out[-3:] == [f"{REGISTRY}/{HUB_IMAGE}", "with-extra-ca", "x"]
    one_word = argv("idp", job(IDP, entrypoint=["sh"], command=None))
    assert one_word[-3:] == ["--entrypoint", "sh", f"{REGISTRY}/{HUB_IMAGE}"]


def test_every_network_is_joined_by_its_rendered_name() -> None:
    out = argv("idp", job(IDP, networks={"edge": None, "backend": {"aliases": ["a"]}}))
    networks = [out[i + 1] for i, arg in enumerate(out) if arg == "--network"]
    assert networks == [f"{PROJECT}_edge", f"{PROJECT}_backend"]


@pytest.mark.parametrize(
    ("secret", "target"),
    [
        ({"source": "stack-secrets", "target": "/etc/stack.env"}, "/etc/stack.env"),
        ({"source": "stack-secrets", "target": "stack.env"}, "/run/secrets/stack.env"),
        ({"source": "stack-secrets"}, "/run/secrets/stack-secrets"),
    ],
)
def test_a_secret_file_is_mounted_read_only_at_its_target(secret: dict, target: str) -> None:
    out = argv("idp", job(IDP, secrets=[secret]), **{"stack-secrets": "/host/s.env"})
    assert f"type=bind,source=/host/s.env,target={target},readonly" in out
    assert out[out.index(f"type=bind,source=/host/s.env,target={target},readonly") - 1] == "--mount"


def test_a_secret_without_a_file_is_refused() -> None:
    with pytest.raises(StackFileError, match="job idp: no file for its secret stack-secrets"):
        argv("idp", IDP, other="/host/other")


def test_mounts_name_volumes_as_rendered_and_keep_read_only() -> None:
    """A volume a job creates first is labelled as the stack's, as Swarm labels its own."""
    volumes = [
        {"type": "volume", "source": "unnamed", "target": "/a"},
        {"type": "volume", "source": "traefik-dynamic", "target": "/b", "read_only": True},
        {"type": "bind", "source": "/host/c", "target": "/c", "read_only": False},
        {"type": "bind", "source": "/host/d", "target": "/d", "read_only": True},
    ]
    out = argv("hub-volumes", job(HUB_VOLUMES, volumes=volumes))
    mounts = [out[i + 1] for i, arg in enumerate(out) if arg == "--mount"]
    assert mounts == [
        f"type=volume,source=unnamed,target=/a,{LABEL}",
        f"type=volume,source={PROJECT}_traefik-dynamic,target=/b,readonly,{LABEL}",
        "type=bind,source=/host/c,target=/c",
        "type=bind,source=/host/d,target=/d,readonly",
    ]


@pytest.mark.parametrize(
    "mount",
    [
        {"type": "tmpfs", "source": "", "target": "/run"},
        # As compose renders it: a tmpfs has no source.
        {"type": "tmpfs", "target": "/run", "tmpfs": {"size": 1024}},
    ],
)
def test_a_tmpfs_mount_is_refused(mount: dict) -> None:
    with pytest.raises(StackFileError, match="mount of type tmpfs cannot be carried"):
        argv("hub-volumes", job(HUB_VOLUMES, volumes=[mount]))


@pytest.mark.parametrize("key", ["tmpfs", "healthcheck", "ports", "read_only", "deploy"])
def test_a_key_docker_run_is_not_given_is_refused(key: str) -> None:
    with pytest.raises(StackFileError, match=rf"job idp: \['{key}'\] cannot be carried"):
        argv("idp", job(IDP, **{key: ["x"]}))


def test_the_image_is_the_registrys_copy() -> None:
    out = argv("idp", job(IDP, image="postgres:15-bookworm"))
    assert f"{REGISTRY}/postgres:15-bookworm" in out
    assert "postgres:15-bookworm" not in out and HUB_IMAGE not in " ".join(out)


def test_a_bare_job_runs_the_images_own_entrypoint_and_command() -> None:
    assert argv("bare", {"image": HUB_IMAGE}) == [
        "run",
        "--rm",
        "--name",
        f"{PROJECT}-bare-job",
        f"{REGISTRY}/{HUB_IMAGE}",
    ]
