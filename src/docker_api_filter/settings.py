"""What the filter checks against (``FilterSettings``), read from stackconf like the hub's own.

The hub builds its containers and services from the same settings (hub/jupyterhub_config.py):
the single-user image, the users network, the stack's label, the user volume's and container's
name templates, the extra CA file and, in swarm mode, the placement constraints and the
environment of the server's own firewall.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jupyterhub.traitlets import ByteSpecification
from traitlets import TraitError

from stackconf import settings as conf
from users_firewall import server as server_firewall

#: What a template field ({username}, ...) of a volume or container name may be: DockerSpawner
#: escapes usernames to lowercase letters, digits and "-".
NAME_PART = "[A-Za-z0-9._-]"
#: The spawners the filter serves (HUB_SPAWNER): DockerSpawner's containers, SwarmSpawner's
#: services.
SPAWNERS = ("docker", "swarm")
#: The operator of a placement constraint, with the spaces Docker ignores around it.
CONSTRAINT_OPERATOR = re.compile(r"\s*(==|!=)\s*")


def template_pattern(template: str) -> re.Pattern[str]:
    """A name template (``jupyterhub-user-{username}``) as a regex matching the names it makes."""
    parts = re.split(r"(\{[A-Za-z_]+\})", template)
    return re.compile(
        "".join(
            (f"(?P<username>{NAME_PART}+)" if part == "{username}" else NAME_PART + "*")
            if part.startswith("{") and part.endswith("}")
            else re.escape(part)
            for part in parts
        )
    )


def memory_bytes(value: str) -> int:
    """USER_MEM_LIMIT in bytes, read as the hub's DockerSpawner reads it (JupyterHub's
    ByteSpecification: a number with K, M, G or T, 1024-based)."""
    try:
        return int(ByteSpecification().validate(None, value))
    except (TraitError, TypeError, IndexError):
        raise conf.SettingError(
            f"USER_MEM_LIMIT must be a number with K, M, G or T (e.g. 1G or 512M), got {value!r}"
        ) from None


def normalize_constraint(constraint: str) -> str:
    """``node.role == worker`` as ``node.role==worker`` (Docker ignores those spaces)."""
    return CONSTRAINT_OPERATOR.sub(r"\1", constraint.strip())


@dataclass(frozen=True)
class FilterSettings:
    """What the policy checks against; the hub builds its containers from the same settings."""

    image: str
    users_network: str
    label_key: str
    label_value: str
    user_volume_name: str
    user_container_name: str
    #: USER_MEM_LIMIT in bytes, USER_CPU_LIMIT, USER_PIDS_LIMIT: a user server's limits, which
    #: the hub sets and the filter pins (no server gets more, nor none).
    user_memory: int
    user_cpu_limit: float
    user_pids_limit: int
    extra_ca_host_path: str = ""
    max_body: int = 1024 * 1024
    #: HUB_SPAWNER: "docker" (containers) or "swarm" (services); each allows its own endpoints.
    spawner: str = "docker"
    #: SWARM_USER_CONSTRAINTS, normalized: a user service's placement constraints (swarm).
    swarm_user_constraints: tuple[str, ...] = ()
    #: The environment a user service must carry (swarm): the settings its own firewall is made
    #: of (users_firewall.server.SETTINGS), with the values the filter has.
    server_firewall_env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.user_memory <= 0 or self.user_cpu_limit < 0 or self.user_pids_limit <= 0:
            raise conf.SettingError(
                "USER_MEM_LIMIT and USER_PIDS_LIMIT must be > 0 and USER_CPU_LIMIT >= 0 (0: no "
                f"CPU limit), got {self.user_memory} bytes, {self.user_pids_limit} processes, "
                f"{self.user_cpu_limit} CPUs"
            )
        if self.spawner not in SPAWNERS:
            raise conf.SettingError(
                "HUB_SPAWNER must be docker or swarm where the Docker API filter runs "
                f"(DockerSpawner's containers or SwarmSpawner's services), got {self.spawner!r}"
            )
        constraints = tuple(normalize_constraint(c) for c in self.swarm_user_constraints)
        for constraint in constraints:
            parts = re.split(r"==|!=", constraint)
            if len(parts) != 2 or not all(parts):
                raise conf.SettingError(
                    f"SWARM_USER_CONSTRAINTS: {constraint!r} is not a placement constraint "
                    "(key==value or key!=value, comma-separated)"
                )
        if self.spawner == "swarm" and not constraints:
            # Without a constraint, user servers could run on managers, beside the swarm's
            # keys and the Docker API filter itself.
            raise conf.SettingError(
                "SWARM_USER_CONSTRAINTS must name at least one placement constraint "
                "(HUB_SPAWNER=swarm)"
            )
        object.__setattr__(self, "swarm_user_constraints", constraints)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FilterSettings:
        label = conf.get("DOCKER_API_STACK_LABEL", env)
        key, sep, value = label.partition("=")
        if not (sep and key and value):  # as the hub reads it: split at the first =
            raise conf.SettingError(f"DOCKER_API_STACK_LABEL must be key=value, got {label!r}")
        max_body = conf.get_int("DOCKER_API_FILTER_MAX_BODY", env)
        if max_body <= 0:
            raise conf.SettingError(f"DOCKER_API_FILTER_MAX_BODY must be > 0, got {max_body}")
        return cls(
            image=conf.get("SINGLEUSER_IMAGE", env),
            users_network=conf.get("USERS_NETWORK", env),
            label_key=key,
            label_value=value,
            user_volume_name=conf.get("USER_VOLUME_NAME", env),
            user_container_name=conf.get("USER_CONTAINER_NAME", env),
            user_memory=memory_bytes(conf.get("USER_MEM_LIMIT", env)),
            user_cpu_limit=conf.get_float("USER_CPU_LIMIT", env),
            user_pids_limit=conf.get_int("USER_PIDS_LIMIT", env),
            extra_ca_host_path=conf.get("EXTRA_CA_BUNDLE_HOST_PATH", env),
            max_body=max_body,
            spawner=conf.get("HUB_SPAWNER", env),
            swarm_user_constraints=tuple(conf.get_list("SWARM_USER_CONSTRAINTS", env)),
            server_firewall_env=tuple(
                (name, conf.get(name, env)) for name in server_firewall.SETTINGS
            ),
        )

    @property
    def label(self) -> str:
        return f"{self.label_key}={self.label_value}"
