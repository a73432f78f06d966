"""swarm_runtime.stackfile: `docker compose config --format json` of compose.yml plus
compose/swarm.yml, made into the stack file `docker stack deploy` reads.

The input is shaped like compose's real rendering (services, networks, volumes, secrets,
configs, x-swarm), with synthetic values only: no secret of any machine is in this file.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from swarm_runtime.stackfile import (
    COMPOSE_ONLY,
    MAX_NAME,
    STACK_VERSION,
    StackFileError,
    SwarmPlan,
    check_no_secret_values,
    config_name,
    qualify,
    secret_name,
    stack_file,
)

PROJECT = "jupyterhub-keycloak"
REGISTRY = "10.0.0.5:5000"
#: The secrets file's values (synthetic), by variable.
SECRETS = {
    "POSTGRES_PASSWORD": "synthetic-postgres-pw-4f1c",
    "KEYCLOAK_DB_PASSWORD": "synthetic-keycloak-db-pw-9a7e",
    "HUB_DB_PASSWORD": "synthetic-hub-db-pw-02bd",
    "JUPYTERHUB_CLIENT_SECRET": "synthetic-client-secret-c3d8",
}
CONFIGS = {"secrets-env": b'#!/bin/sh\nexec "$@"\n'}
SECRETS_ENV = {"source": "secrets-env", "target": "/usr/local/bin/secrets-env", "mode": "0555"}
ON_MANAGER = {
    "resources": {},
    "placement": {"constraints": ["node.role == manager"]},
    "endpoint_mode": "dnsrr",
}
LEAST_RIGHTS = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}
HEALTHCHECK = {"test": ["CMD", "true"], "interval": "5s", "retries": 20}


def config() -> dict[str, Any]:
    """A new copy of what `docker compose config --format json` says (tests may change it)."""
    services: dict[str, Any] = {
        "traefik": {
            **LEAST_RIGHTS,
            "cap_add": ["DAC_READ_SEARCH"],
            "command": ["--configfile=/etc/traefik/traefik.yml"],
            "deploy": ON_MANAGER,
            "entrypoint": None,
            "environment": {"HUB_PUBLIC_URL": "http://localhost:8000"},
            "healthcheck": {**HEALTHCHECK, "start_interval": "1s", "start_period": "10s"},
            "image": "traefik:v3.7",
            "mem_limit": "268435456",
            "networks": {
                "edge": {},
                "proxy-api": {"aliases": ["traefik-api"]},
                "users": {"ipv4_address": "10.255.224.3"},
            },
            "ports": [
                {
                    "mode": "ingress",
                    "host_ip": "127.0.0.1",
                    "target": 8000,
                    "published": "8000",
                    "protocol": "tcp",
                }
            ],
            "restart": "unless-stopped",
            "volumes": [
                {
                    "type": "bind",
                    "source": "/repo/compose/traefik/traefik.yml",
                    "target": "/etc/traefik/traefik.yml",
                    "read_only": True,
                    "bind": {"create_host_path": True},
                },
                {
                    "type": "volume",
                    "source": "traefik-dynamic",
                    "target": "/etc/traefik/dynamic",
                    "volume": {},
                },
            ],
        },
        "postgres": {
            **LEAST_RIGHTS,
            "command": ["postgres"],
            "configs": [SECRETS_ENV],
            "deploy": ON_MANAGER,
            "entrypoint": ["/usr/local/bin/secrets-env", "docker-entrypoint.sh"],
            "environment": {
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "postgres",
                "POSTGRES_PASSWORD": SECRETS["POSTGRES_PASSWORD"],
                "KEYCLOAK_DB_PASSWORD": SECRETS["KEYCLOAK_DB_PASSWORD"],
                "HUB_DB_PASSWORD": SECRETS["HUB_DB_PASSWORD"],
            },
            "healthcheck": HEALTHCHECK,
            "image": "postgres:15-bookworm",
            "mem_limit": "536870912",
            "networks": {"backend": None},
            "restart": "unless-stopped",
            "secrets": [
                {"source": "POSTGRES_PASSWORD", "target": "POSTGRES_PASSWORD"},
                {"source": "KEYCLOAK_DB_PASSWORD", "target": "KEYCLOAK_DB_PASSWORD"},
                {"source": "HUB_DB_PASSWORD", "target": "HUB_DB_PASSWORD"},
            ],
            "volumes": [
                {
                    "type": "volume",
                    "source": "postgres",
                    "target": "/var/lib/postgresql/data",
                    "volume": {},
                }
            ],
        },
        "keycloak": {
            **LEAST_RIGHTS,
            "build": {"context": "/repo", "dockerfile": "images/keycloak/Dockerfile"},
            "command": ["start", "--optimized"],
            "configs": [SECRETS_ENV],
            "depends_on": {"postgres": {"condition": "service_healthy", "required": True}},
            "deploy": {
                "replicas": 2,
                "resources": {},
                "placement": {"max_replicas_per_node": 1},
                "endpoint_mode": "dnsrr",
            },
            "entrypoint": ["/usr/local/bin/secrets-env", "/opt/keycloak/bin/kc.sh"],
            "environment": {
                "KC_DB_USERNAME": "keycloak",
                "KC_DB_PASSWORD": SECRETS["KEYCLOAK_DB_PASSWORD"],
                "KC_CACHE": "ispn",
            },
            "image": "jupyterhub-keycloak/keycloak:dev",
            "mem_limit": "1610612736",
            "networks": {"backend": None, "edge": None, "keycloak-cluster": None},
            "restart": "unless-stopped",
            "secrets": [{"source": "KEYCLOAK_DB_PASSWORD", "target": "KC_DB_PASSWORD"}],
        },
        "hub": {
            **LEAST_RIGHTS,
            "build": {"context": "/repo", "dockerfile": "images/hub/Dockerfile"},
            "command": None,
            "configs": [SECRETS_ENV],
            "container_name": "hub",
            "depends_on": {"postgres": {"condition": "service_healthy", "required": True}},
            "deploy": ON_MANAGER,
            "entrypoint": ["/usr/local/bin/secrets-env", "with-extra-ca"],
            "environment": {
                "HUB_DB_URL": "postgresql+psycopg://jupyterhub@postgres/jupyterhub",
                "HUB_SPAWNER": "swarm",
                "JUPYTERHUB_CLIENT_SECRET": SECRETS["JUPYTERHUB_CLIENT_SECRET"],
                "PGPASSWORD": SECRETS["HUB_DB_PASSWORD"],
                "SINGLEUSER_IMAGE": "jupyterhub-keycloak/singleuser:dev",
                "USERS_NETWORK": "jupyterhub-keycloak-users",
            },
            "healthcheck": HEALTHCHECK,
            "image": "jupyterhub-keycloak/hub:dev",
            "mem_limit": "1073741824",
            "networks": {"backend": {}, "edge": {}, "users": {"ipv4_address": "10.255.224.2"}},
            "pull_policy": "never",
            "restart": "unless-stopped",
            "secrets": [
                {"source": "HUB_DB_PASSWORD", "target": "PGPASSWORD"},
                {"source": "JUPYTERHUB_CLIENT_SECRET", "target": "JUPYTERHUB_CLIENT_SECRET"},
            ],
            "volumes": [
                {
                    "type": "volume",
                    "source": "traefik-dynamic",
                    "target": "/srv/traefik-dynamic",
                    "volume": {},
                }
            ],
        },
        # A job before the deploy, one after, a service left out: none is a Swarm service
        # (and their keys, network_mode and tmpfs included, are not the stack file's concern).
        "hub-volumes": {
            **LEAST_RIGHTS,
            "cap_add": ["CHOWN"],
            "entrypoint": ["chown", "jupyterhub:jupyterhub", "/srv/traefik-dynamic"],
            "image": "jupyterhub-keycloak/hub:dev",
            "network_mode": "none",
            "restart": "no",
        },
        "idp": {
            **LEAST_RIGHTS,
            "command": ["idpctl", "apply", "--idp-dir", "/srv/idp"],
            "image": "jupyterhub-keycloak/hub:dev",
            "networks": {"edge": None},
            "secrets": [{"source": "stack-secrets", "target": "/run/secrets/stack-secrets"}],
        },
        "users-firewall": {
            **LEAST_RIGHTS,
            "command": ["users-firewall", "run"],
            "image": "jupyterhub-keycloak/hub:dev",
            "network_mode": "host",
            "tmpfs": ["/run"],
        },
        # An image built with the stack (profile images), never run as a service.
        "singleuser": {
            "build": {"context": "/repo", "dockerfile": "images/singleuser/Dockerfile"},
            "image": "jupyterhub-keycloak/singleuser:dev",
            "profiles": ["images"],
        },
    }
    return copy.deepcopy(
        {
            "name": PROJECT,
            "services": services,
            "networks": {
                "edge": {"name": f"{PROJECT}_edge", "driver": "overlay", "attachable": True},
                "backend": {"name": f"{PROJECT}_backend", "driver": "overlay", "internal": True},
                "proxy-api": {
                    "name": f"{PROJECT}_proxy-api",
                    "driver": "overlay",
                    "ipam": {"config": [{"subnet": "10.255.255.248/29"}]},
                    "internal": True,
                },
                "keycloak-cluster": {
                    "name": f"{PROJECT}_keycloak-cluster",
                    "driver": "overlay",
                    "internal": True,
                },
                "users": {
                    "name": f"{PROJECT}-users",
                    "driver": "overlay",
                    "driver_opts": {
                        "com.docker.network.bridge.enable_icc": "false",
                        "com.docker.network.bridge.name": "jhk-users",
                        "encrypted": "true",
                    },
                    "ipam": {"config": [{"subnet": "10.255.224.0/20"}]},
                },
            },
            "volumes": {
                "postgres": {"name": f"{PROJECT}_postgres"},
                "traefik-dynamic": {
                    "name": f"{PROJECT}_traefik-dynamic",
                    "labels": {"org.example": "x"},
                },
            },
            "secrets": {
                **{name: {"name": f"{PROJECT}_{name}", "environment": name} for name in SECRETS},
                "stack-secrets": {
                    "name": f"{PROJECT}_stack-secrets",
                    "file": "/repo/.state/secrets.env",
                },
            },
            "configs": {
                "secrets-env": {
                    "name": f"{PROJECT}_secrets-env",
                    "file": "/repo/images/secrets-env.sh",
                }
            },
            "x-swarm": {
                "before-deploy": ["hub-volumes"],
                "after-deploy": ["idp"],
                "left-out": ["users-firewall"],
            },
        }
    )


def render(
    cfg: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    configs: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    return stack_file(
        config() if cfg is None else cfg,
        registry=REGISTRY,
        secrets=SECRETS if secrets is None else secrets,
        configs=CONFIGS if configs is None else configs,
    )


# --- Which services -------------------------------------------------------------------------


def test_jobs_left_out_services_and_image_profiles_are_not_services() -> None:
    stack = render()
    assert stack["version"] == STACK_VERSION == "3.9"
    assert sorted(stack["services"]) == ["hub", "keycloak", "postgres", "traefik"]
    plan = SwarmPlan.of(config())
    assert plan.before_deploy == ("hub-volumes",) and plan.after_deploy == ("idp",)
    assert plan.jobs == ("hub-volumes", "idp")
    assert plan.not_services == ("hub-volumes", "idp", "users-firewall")


def test_without_x_swarm_every_service_but_the_profiles_is_one() -> None:
    cfg = config()
    del cfg["x-swarm"], cfg["services"]["hub-volumes"], cfg["services"]["users-firewall"]
    del cfg["services"]["idp"]["secrets"]  # a file secret: no Swarm secret's value
    assert sorted(render(cfg)["services"]) == ["hub", "idp", "keycloak", "postgres", "traefik"]


@pytest.mark.parametrize("part", ["before-deploy", "after-deploy", "left-out"])
def test_x_swarm_naming_a_service_compose_does_not_have_is_refused(part: str) -> None:
    cfg = config()
    cfg["x-swarm"][part].append("no-such-service")
    with pytest.raises(StackFileError, match=r"x-swarm names .*\['no-such-service'\]"):
        render(cfg)


# --- Images -----------------------------------------------------------------------------------


def test_every_image_is_the_registrys_copy_and_so_is_the_user_servers_image() -> None:
    stack = render()
    original = config()["services"]
    for name, spec in stack["services"].items():
        assert spec["image"] == f"{REGISTRY}/{original[name]['image']}"
    hub = stack["services"]["hub"]["environment"]
    assert hub["SINGLEUSER_IMAGE"] == f"{REGISTRY}/jupyterhub-keycloak/singleuser:dev"
    # Other settings are left as they are, an image-like one included.
    assert hub["USERS_NETWORK"] == "jupyterhub-keycloak-users"
    assert qualify("traefik:v3.7", "reg.example:5000") == "reg.example:5000/traefik:v3.7"


def test_an_empty_user_servers_image_is_left_empty() -> None:
    cfg = config()
    cfg["services"]["hub"]["environment"]["SINGLEUSER_IMAGE"] = ""
    assert render(cfg)["services"]["hub"]["environment"]["SINGLEUSER_IMAGE"] == ""


# --- Secrets ----------------------------------------------------------------------------------


def test_a_variable_given_as_a_swarm_secret_leaves_the_environment() -> None:
    services = render()["services"]
    assert services["postgres"]["environment"] == {
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
    }
    # The secret's target, not its source, names the variable.
    assert services["keycloak"]["environment"] == {"KC_DB_USERNAME": "keycloak", "KC_CACHE": "ispn"}
    assert "PGPASSWORD" not in services["hub"]["environment"]
    assert "JUPYTERHUB_CLIENT_SECRET" not in services["hub"]["environment"]
    assert services["hub"]["secrets"] == [
        {"source": "HUB_DB_PASSWORD", "target": "PGPASSWORD"},
        {"source": "JUPYTERHUB_CLIENT_SECRET", "target": "JUPYTERHUB_CLIENT_SECRET"},
    ]


def test_no_secret_value_is_anywhere_in_the_stack_file() -> None:
    text = json.dumps(render())
    for value in SECRETS.values():
        assert value not in text


def test_an_unset_variable_is_written_empty() -> None:
    cfg = config()
    cfg["services"]["traefik"]["environment"]["EXTRA"] = None
    assert render(cfg)["services"]["traefik"]["environment"]["EXTRA"] == ""


def _env_value(cfg: dict[str, Any]) -> None:
    hub = cfg["services"]["hub"]["environment"]
    hub["HUB_DB_URL"] = f"postgresql://jupyterhub:{SECRETS['HUB_DB_PASSWORD']}@postgres/db"


def _command_arg(cfg: dict[str, Any]) -> None:
    cfg["services"]["hub"]["command"] = ["jupyterhub", "--db-password", SECRETS["HUB_DB_PASSWORD"]]


def _deploy_label(cfg: dict[str, Any]) -> None:
    cfg["services"]["keycloak"]["deploy"]["labels"] = {"pw": SECRETS["POSTGRES_PASSWORD"]}


def _label_key(cfg: dict[str, Any]) -> None:
    cfg["services"]["traefik"]["labels"] = {SECRETS["JUPYTERHUB_CLIENT_SECRET"]: "x"}


def _env_key(cfg: dict[str, Any]) -> None:
    cfg["services"]["traefik"]["environment"][SECRETS["POSTGRES_PASSWORD"]] = "1"


def _healthcheck(cfg: dict[str, Any]) -> None:
    test = ["CMD", "pg_isready", f"--password={SECRETS['POSTGRES_PASSWORD']}"]
    cfg["services"]["postgres"]["healthcheck"] = {**HEALTHCHECK, "test": test}


@pytest.mark.parametrize(
    ("leak", "where"),
    [
        (_env_value, ".services.hub.environment.HUB_DB_URL"),
        (_command_arg, ".services.hub.command[2]"),
        (_deploy_label, ".services.keycloak.deploy.labels.pw"),
        (_healthcheck, ".services.postgres.healthcheck.test[2]"),
    ],
)
def test_a_secret_value_left_anywhere_is_refused_by_its_place_never_its_value(
    leak, where: str
) -> None:
    cfg = config()
    leak(cfg)
    with pytest.raises(StackFileError) as refused:
        render(cfg)
    message = str(refused.value)
    assert f"at {where}:" in message and "Swarm secret" in message
    for value in SECRETS.values():
        assert value not in message


@pytest.mark.parametrize(
    ("leak", "where"),
    [(_label_key, ".services.traefik.labels."), (_env_key, ".services.traefik.environment.")],
)
def test_a_secret_value_as_a_key_is_refused(leak, where: str) -> None:
    cfg = config()
    leak(cfg)
    with pytest.raises(StackFileError, match=f"at {re.escape(where)}"):
        render(cfg)


@pytest.mark.parametrize("leak", [_label_key, _env_key])
def test_a_secret_value_as_a_key_is_not_named_in_the_message(leak) -> None:
    cfg = config()
    leak(cfg)
    with pytest.raises(StackFileError) as refused:
        render(cfg)
    for value in SECRETS.values():
        assert value not in str(refused.value)


def test_the_check_takes_every_key_and_value_and_ignores_empty_secrets() -> None:
    check_no_secret_values({"a": [{"b": 1, "c": None}], "d": ("e",)}, ["", "zzz"])
    with pytest.raises(StackFileError, match=r"at \.a\[0\]\.b"):
        check_no_secret_values({"a": [{"b": 12345}]}, ["234"])
    with pytest.raises(StackFileError, match=r"at \.d\[1\]"):
        check_no_secret_values({"d": ("e", "xx-secret-xx")}, ["secret"])


def test_a_swarm_secret_without_a_value_in_the_secrets_file_is_refused() -> None:
    secrets = {k: v for k, v in SECRETS.items() if k != "HUB_DB_PASSWORD"}
    with pytest.raises(StackFileError, match=r"no value .*\['HUB_DB_PASSWORD'\]"):
        render(secrets=secrets)


def test_swarm_secrets_are_external_and_named_after_their_value() -> None:
    stack = render()
    # Only the secrets a service uses (the job's file secret is not one).
    assert sorted(stack["secrets"]) == sorted(SECRETS)
    for name, spec in stack["secrets"].items():
        assert spec == {"external": True, "name": secret_name(PROJECT, name, SECRETS[name])}
        assert re.fullmatch(rf"{PROJECT}_{name}_[0-9a-f]{{10}}", spec["name"])
    changed = render(secrets={**SECRETS, "HUB_DB_PASSWORD": "synthetic-new-pw"})["secrets"]
    assert changed["HUB_DB_PASSWORD"]["name"] != stack["secrets"]["HUB_DB_PASSWORD"]["name"]
    assert changed["POSTGRES_PASSWORD"] == stack["secrets"]["POSTGRES_PASSWORD"]


def test_secret_and_config_names_carry_a_hash_of_the_value() -> None:
    assert secret_name("p", "A", "one") == secret_name("p", "A", "one")
    assert secret_name("p", "A", "one") != secret_name("p", "A", "two")
    assert config_name("p", "c", b"one") != config_name("p", "c", b"two")
    assert secret_name("p", "A", "one") == config_name("p", "A", b"one")


@pytest.mark.parametrize("name", ["secret_name", "config_name"])
def test_long_names_are_cut_to_swarms_limit_and_keep_their_hash(name: str) -> None:
    make = {
        "secret_name": lambda project, var, value: secret_name(project, var, value),
        "config_name": lambda project, var, value: config_name(project, var, value.encode()),
    }[name]
    project, var = "a-very-long-project-name-for-a-stack", "JUPYTERHUB_EXCHANGE_CLIENT_SECRET_V2"
    first, second = make(project, var, "one"), make(project, var, "two")
    assert len(first) <= MAX_NAME == 64 and len(second) <= MAX_NAME
    assert first != second
    assert first.startswith(project + "_JUPYTER")
    assert re.fullmatch(r".+_[0-9a-f]{10}", first)
    short = make("p", "A", "one")
    assert len(short) == len("p_A_") + 10


def test_configs_are_named_after_their_content() -> None:
    stack = render()
    assert stack["configs"] == {
        "secrets-env": {
            "file": "/repo/images/secrets-env.sh",
            "name": config_name(PROJECT, "secrets-env", CONFIGS["secrets-env"]),
        }
    }
    changed = render(configs={"secrets-env": b"#!/bin/sh\n# changed\n"})
    assert changed["configs"]["secrets-env"]["name"] != stack["configs"]["secrets-env"]["name"]


# --- Service keys -----------------------------------------------------------------------------


def test_compose_only_keys_are_dropped() -> None:
    for name, spec in render()["services"].items():
        assert not set(spec) & COMPOSE_ONLY, name
    hub = render()["services"]["hub"]
    for key in ("build", "depends_on", "restart", "container_name", "pull_policy"):
        assert key not in hub
    assert "security_opt" not in hub and "mem_limit" not in hub
    assert hub["cap_drop"] == ["ALL"]  # a key Swarm has is kept


def test_an_unknown_service_key_is_refused_with_where_to_add_a_rule() -> None:
    cfg = config()
    cfg["services"]["hub"]["privileged"] = True
    cfg["services"]["hub"]["extra_hosts"] = ["a:10.0.0.1"]
    with pytest.raises(StackFileError) as refused:
        render(cfg)
    message = str(refused.value)
    assert message.startswith("service hub: ['extra_hosts', 'privileged'] cannot be carried")
    assert "src/swarm_runtime/stackfile.py" in message


def test_a_services_network_mode_is_refused() -> None:
    cfg = config()
    cfg["services"]["traefik"]["network_mode"] = "host"
    with pytest.raises(StackFileError, match=r"service traefik: .*network_mode"):
        render(cfg)


def test_none_entrypoint_and_command_are_dropped() -> None:
    services = render()["services"]
    assert "entrypoint" not in services["traefik"]
    assert "command" not in services["hub"]
    assert services["hub"]["entrypoint"] == ["/usr/local/bin/secrets-env", "with-extra-ca"]
    assert services["postgres"]["command"] == ["postgres"]


def test_healthchecks_lose_start_interval_only() -> None:
    traefik = render()["services"]["traefik"]
    assert traefik["healthcheck"] == {**HEALTHCHECK, "start_period": "10s"}


def test_ports_are_published_in_host_mode_without_a_host_ip() -> None:
    stack = render()
    assert stack["services"]["traefik"]["ports"] == [
        {"target": 8000, "published": 8000, "protocol": "tcp", "mode": "host"}
    ]
    cfg = config()
    cfg["services"]["traefik"]["ports"] = [{"target": 53, "published": "5353", "protocol": "udp"}]
    assert render(cfg)["services"]["traefik"]["ports"] == [
        {"target": 53, "published": 5353, "protocol": "udp", "mode": "host"}
    ]
    cfg["services"]["traefik"]["ports"] = [{"target": 8000}]
    with pytest.raises(StackFileError, match="service traefik: a port without a published port"):
        render(cfg)


@pytest.mark.parametrize(
    "port",
    [
        {"target": 8000, "published": "8000-8010"},
        {"target": "8000-8010", "published": "8000"},
        {"published": "8000"},
    ],
)
def test_a_port_range_is_a_clear_error(port: dict) -> None:
    cfg = config()
    cfg["services"]["traefik"]["ports"] = [port]
    with pytest.raises(StackFileError, match="service traefik: port .* is not one published port"):
        render(cfg)


def test_a_service_without_an_image_is_a_clear_error() -> None:
    cfg = config()
    del cfg["services"]["traefik"]["image"]
    with pytest.raises(StackFileError, match="service traefik: no image; .* give it `image:`"):
        render(cfg)


def test_service_networks_keep_their_aliases_only() -> None:
    services = render()["services"]
    assert services["traefik"]["networks"] == {
        "edge": None,
        "proxy-api": {"aliases": ["traefik-api"]},
        "users": None,  # the fixed address is compose's only
    }
    assert services["postgres"]["networks"] == {"backend": None}


def test_service_mounts_keep_what_swarm_reads() -> None:
    cfg = config()
    cfg["services"]["hub"]["volumes"].append(
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 1048576, "mode": 1777}}
    )
    assert render(cfg)["services"]["hub"]["volumes"] == [
        {"type": "volume", "source": "traefik-dynamic", "target": "/srv/traefik-dynamic"},
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 1048576}},
    ]
    assert render()["services"]["traefik"]["volumes"][0] == {
        "type": "bind",
        "source": "/repo/compose/traefik/traefik.yml",
        "target": "/etc/traefik/traefik.yml",
        "read_only": True,
    }


def test_memory_limits_move_to_deploy_resources() -> None:
    cfg = config()
    before = copy.deepcopy(cfg)
    services = render(cfg)["services"]
    assert services["postgres"]["deploy"] == {
        **ON_MANAGER,
        "resources": {"limits": {"memory": "536870912"}},
    }
    assert services["keycloak"]["deploy"]["replicas"] == 2
    assert services["keycloak"]["deploy"]["resources"] == {"limits": {"memory": "1610612736"}}
    assert cfg == before  # the compose config is not changed


def test_an_explicit_deploy_memory_limit_is_kept() -> None:
    cfg = config()
    cfg["services"]["keycloak"]["deploy"]["resources"] = {
        "limits": {"memory": "2147483648", "cpus": "2"},
        "reservations": {"memory": "1073741824"},
    }
    assert render(cfg)["services"]["keycloak"]["deploy"]["resources"] == {
        "limits": {"memory": "2147483648", "cpus": "2"},
        "reservations": {"memory": "1073741824"},
    }


def test_a_service_without_deploy_or_memory_limit_gets_no_deploy() -> None:
    cfg = config()
    del cfg["services"]["traefik"]["deploy"], cfg["services"]["traefik"]["mem_limit"]
    assert "deploy" not in render(cfg)["services"]["traefik"]
    cfg["services"]["traefik"]["mem_limit"] = "1000"
    assert render(cfg)["services"]["traefik"]["deploy"] == {
        "resources": {"limits": {"memory": "1000"}}
    }


def test_file_modes_in_octal_strings_become_numbers() -> None:
    cfg = config()
    cfg["services"]["hub"]["secrets"][0]["mode"] = "0440"
    cfg["services"]["hub"]["secrets"][1]["mode"] = 0o400
    services = render(cfg)["services"]
    assert services["postgres"]["configs"] == [
        {"source": "secrets-env", "target": "/usr/local/bin/secrets-env", "mode": 0o555}
    ]
    assert services["hub"]["secrets"][0]["mode"] == 0o440 == 288
    assert services["hub"]["secrets"][1]["mode"] == 0o400


# --- Networks and volumes ---------------------------------------------------------------------


def test_networks_are_overlays_without_bridge_options() -> None:
    networks = render()["networks"]
    assert set(networks) == {"edge", "backend", "proxy-api", "keycloak-cluster", "users"}
    assert networks["users"] == {
        "name": f"{PROJECT}-users",
        "driver": "overlay",
        "driver_opts": {"encrypted": "true"},
        "ipam": {"config": [{"subnet": "10.255.224.0/20"}]},
    }
    assert networks["edge"] == {"name": f"{PROJECT}_edge", "driver": "overlay", "attachable": True}
    cfg = config()
    del cfg["networks"]["users"]["driver_opts"]["encrypted"]
    assert "driver_opts" not in render(cfg)["networks"]["users"]


@pytest.mark.parametrize("driver", ["bridge", None])
def test_a_network_that_is_not_an_overlay_is_refused(driver: str | None) -> None:
    cfg = config()
    cfg["networks"]["backend"]["driver"] = driver
    with pytest.raises(StackFileError, match=f"network {PROJECT}_backend: Swarm needs driver"):
        render(cfg)


def test_volumes_keep_their_name_and_driver_only() -> None:
    cfg = config()
    cfg["volumes"]["postgres"].update(driver="local", driver_opts={"type": "none"})
    assert render(cfg)["volumes"] == {
        "postgres": {
            "name": f"{PROJECT}_postgres",
            "driver": "local",
            "driver_opts": {"type": "none"},
        },
        "traefik-dynamic": {"name": f"{PROJECT}_traefik-dynamic"},
    }


def test_a_service_whose_every_variable_is_a_secret_gets_no_environment() -> None:
    cfg = config()
    cfg["services"]["keycloak"]["environment"] = {"KC_DB_PASSWORD": SECRETS["KEYCLOAK_DB_PASSWORD"]}
    assert "environment" not in render(cfg)["services"]["keycloak"]
