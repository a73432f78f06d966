"""HUB_SPAWNER=swarm: the rules a user service's spec must pass (``ServiceRules``).

The name from USER_CONTAINER_NAME, exactly the stack's label, one replica, the single-user image
with its own entrypoint (no Command, no healthcheck), started as root with CapabilityDrop ALL and
exactly the capabilities of the server's own firewall (users_firewall.server: the entrypoint sets
the rules and becomes uid 1000 with none left), an environment with the firewall's settings as
the filter has them and none of the dynamic loader's variables, no privileges, secrets, configs,
sysctls or host entries, as mounts only the named user's own volume, the runtime directory's
tmpfs and the extra CA file read-only, the users network only (no aliases), no published port,
resource limits (memory, CPU and pids) and exactly the placement constraints of
SWARM_USER_CONSTRAINTS. Every key of the spec (``SERVICE``), its TaskTemplate
(``TASK_TEMPLATE``) and its ContainerSpec (``CONTAINER_SPEC``) is on an allowlist with a rule.
"""

from __future__ import annotations

from typing import Any

from docker_api_filter.common import ServerRules, Table, cap_drop
from docker_api_filter.refusals import (
    Refused,
    Rule,
    empty,
    fields,
    free,
    json_object,
    must_be_empty,
    non_negative_int,
    one_of,
    short,
    string_list,
)
from docker_api_filter.settings import FilterSettings, normalize_constraint
from users_firewall import server as server_firewall

#: The user server's runtime directory, the one tmpfs of a user service (hub/jupyterhub_config.py:
#: uid 1000 is jovyan, the single-user image's user).
RUNTIME_DIR = "/run/user/1000"
#: Variables that the dynamic loader and the C library read, ignored in setuid programs
#: (glibc's "unsecure" list and GLIBC_TUNABLES): a user service's entrypoint starts as root, so
#: none may be given to it (LD_ is refused as a prefix).
LOADER_VARIABLES = frozenset(
    {
        "GCONV_PATH",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "MALLOC_TRACE",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TMPDIR",
        "TZDIR",
    }
)


def rule_mode(field: str, value: Any) -> None:
    if value is None:
        return  # Docker's default: replicated, one replica
    # docker-py's ServiceMode spells the key "replicated"; with one key in Mode, Go's
    # case-insensitive decoder has nothing to pick between.
    mode = json_object(field, value, {"Replicated", "replicated"})
    if len(mode) != 1:
        raise Refused(f"{field} must be one replicated service with one replica")
    [(key, replicated)] = mode.items()
    replicas = json_object(f"{field}.{key}", replicated, {"Replicas"}).get("Replicas")
    if replicas is not None and (type(replicas) is not int or replicas != 1):
        raise Refused(f"{field}.{key}.Replicas must be 1 (got {short(replicas)})")


#: EndpointSpec: no published port, a user server is reached over the users network only.
ENDPOINT_SPEC: dict[str, Rule] = {"Mode": one_of("vip", "dnsrr"), "Ports": must_be_empty}


def rule_endpoint_spec(field: str, value: Any) -> None:
    if value is None:
        return
    fields(field, value, ENDPOINT_SPEC)


def rule_service_user(field: str, value: Any) -> None:
    if value != server_firewall.START_USER:
        raise Refused(
            f"{field} must be {server_firewall.START_USER!r} (got {short(value)}): the server "
            "starts as root to set its own firewall, and its entrypoint becomes uid 1000"
        )


def rule_cap_add(field: str, value: Any) -> None:
    names = [cap.upper() for cap in string_list(field, value)]
    given = sorted({cap if cap.startswith("CAP_") else f"CAP_{cap}" for cap in names})
    wanted = sorted(server_firewall.START_CAPABILITIES)
    if given != wanted or len(names) != len(given):
        raise Refused(
            f"{field} must be exactly {wanted} (what the server's firewall and its change "
            f"to uid 1000 need), got {short(value)}"
        )


def rule_privileges(field: str, value: Any) -> None:
    # no-new-privileges is welcome (API 1.46); SELinux, seccomp, AppArmor and credential
    # specs are the sandbox's own settings: none may be changed.
    if value is None:
        return
    privileges = json_object(field, value, {"NoNewPrivileges"})
    flag = privileges.get("NoNewPrivileges")
    if flag is not None and not isinstance(flag, bool):
        raise Refused(f"{field}.NoNewPrivileges must be true or false")


#: Resources.Limits: every limit set, a user server shares its node with other users' servers;
#: each pinned to its setting (USER_CPU_LIMIT, USER_MEM_LIMIT, USER_PIDS_LIMIT).
LIMITS: Table = {
    "NanoCPUs": "_rule_limit_cpus",
    "MemoryBytes": "_rule_limit_memory",
    "Pids": "_rule_limit_pids",
}
#: Resources.Reservations: they only schedule, within the limits; GenericResources (GPUs...)
#: are not on the list.
RESERVATIONS: Table = {"NanoCPUs": "_rule_reserved_cpus", "MemoryBytes": "_rule_reserved_memory"}
RESOURCES: Table = {"Limits": "_rule_limits", "Reservations": "_rule_reservations"}
RESOURCES_REQUIRED = ("Limits",)


#: RestartPolicy: a server that ended stays ended until the hub starts it again.
RESTART_POLICY: dict[str, Rule] = {
    "Condition": one_of("none", "on-failure"),
    **dict.fromkeys(["Delay", "MaxAttempts", "Window"], non_negative_int),
}
RESTART_POLICY_REQUIRED = ("Condition",)


def rule_restart_policy(field: str, value: Any) -> None:
    if value is None:
        return
    fields(field, value, RESTART_POLICY, required=RESTART_POLICY_REQUIRED)


#: The service spec (the create body): its keys and their rules (a string: a method of
#: ServiceRules).
SERVICE: Table = {
    "Name": "check_user_name",
    "Labels": "_rule_service_labels",
    "TaskTemplate": "_rule_task_template",
    "Mode": rule_mode,
    "EndpointSpec": rule_endpoint_spec,
    # Updates and rollbacks are never forwarded (no /services/{id}/update); the
    # deprecated top-level Networks would attach networks beside TaskTemplate's.
    **dict.fromkeys(["UpdateConfig", "RollbackConfig", "Networks"], must_be_empty),
}
SERVICE_REQUIRED = ("Name", "Labels", "TaskTemplate")

TASK_TEMPLATE: Table = {
    "ContainerSpec": "_rule_container_spec",
    "Resources": "_rule_resources",
    "Placement": "_rule_placement",
    "Networks": "_rule_service_networks",
    "RestartPolicy": rule_restart_policy,
    # A counter that only makes an update redeploy (updates are never forwarded).
    "ForceUpdate": non_negative_int,
    # "plugin" would install a managed plugin (privileged) on every node.
    "Runtime": one_of("", "container"),
    # Logs shipped from the node to an address of the request's choosing; plugins and
    # network attachments are not user servers.
    **dict.fromkeys(["LogDriver", "PluginSpec", "NetworkAttachmentSpec"], must_be_empty),
}
TASK_TEMPLATE_REQUIRED = ("ContainerSpec", "Resources", "Placement", "Networks")

CONTAINER_SPEC: Table = {
    # Free: the user's own process, its arguments and terminal, and limits that bind
    # only its own processes (the cgroup limits in Resources still hold). Init is
    # docker-init as the daemon configures it (no path can be given here).
    **dict.fromkeys(
        [
            "Args",
            "Dir",
            "TTY",
            "OpenStdin",
            "ReadOnly",
            "StopSignal",
            "StopGracePeriod",
            "DNSConfig",
            "Init",
            "Ulimits",
        ],
        free,
    ),
    # The server starts as root, with the capabilities its firewall needs: the image's
    # entrypoint (server-firewall) sets the rules and becomes uid 1000 with none left.
    # Another entrypoint (Command), or a healthcheck (run as the container's user, root),
    # would run as root with those capabilities.
    # Host entries could give "hub" or "traefik" another address; Hostname is free for
    # a container but a service's may be a template naming its node: never sent, none.
    # Secrets and configs are the swarm's, not the user's; sysctls and supplementary
    # groups (e.g. 0, docker) are privileges.
    **dict.fromkeys(
        [
            "Command",
            "Healthcheck",
            "Hostname",
            "Hosts",
            "Groups",
            "Secrets",
            "Configs",
            "Sysctls",
        ],
        must_be_empty,
    ),
    "Image": "_rule_image",
    "Labels": "_rule_container_labels",
    "User": rule_service_user,
    "Env": "_rule_service_env",
    "CapabilityDrop": cap_drop,
    "CapabilityAdd": rule_cap_add,
    "Privileges": rule_privileges,
    "Isolation": one_of("", "default"),
    # Raising it is harmless; below 0 the server would outlive others in an OOM.
    "OomScoreAdj": non_negative_int,
    "Mounts": "_rule_service_mounts",
}
CONTAINER_SPEC_REQUIRED = ("Image", "User", "Env", "CapabilityDrop", "CapabilityAdd")

PLACEMENT: Table = {
    "Constraints": "_rule_constraints",
    # These only choose among the nodes the constraints allow.
    **dict.fromkeys(["Preferences", "MaxReplicas", "Platforms"], free),
}
PLACEMENT_REQUIRED = ("Constraints",)

#: The one network of TaskTemplate.Networks. No aliases: a user service must not take over a
#: name (hub, traefik) on the network.
SERVICE_NETWORK: Table = {
    "Target": "_rule_network_mode",
    "Aliases": must_be_empty,
    "DriverOpts": must_be_empty,
}
SERVICE_NETWORK_REQUIRED = ("Target",)


class ServiceRules(ServerRules):
    """Decides on a user service's spec (``check_service``)."""

    def __init__(self, settings: FilterSettings) -> None:
        super().__init__(settings)
        self.service_rules = self.bind(SERVICE)
        self.task_template_rules = self.bind(TASK_TEMPLATE)
        self.container_spec_rules = self.bind(CONTAINER_SPEC)
        self.placement_rules = self.bind(PLACEMENT)
        self.network_rules = self.bind(SERVICE_NETWORK)
        self.resources_rules = self.bind(RESOURCES)
        self.limits_rules = self.bind(LIMITS)
        self.reservations_rules = self.bind(RESERVATIONS)

    def check_service(self, spec: dict) -> None:
        """The body of ``POST /services/create``, else Refused."""
        fields("body", spec, self.service_rules, required=SERVICE_REQUIRED)
        mounts = spec["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
        sources = [m.get("Source") for m in mounts if m.get("Type") == "volume"]
        self.check_volumes_are_the_users("TaskTemplate.ContainerSpec", spec["Name"], sources)

    @property
    def limits(self) -> dict[str, int]:
        """Resources.Limits as SwarmSpawner sets them from the settings (0: no CPU limit)."""
        settings = self.settings
        return {
            "NanoCPUs": int(settings.user_cpu_limit * 1e9),
            "MemoryBytes": settings.user_memory,
            "Pids": settings.user_pids_limit,
        }

    def _rule_resources(self, field: str, value: Any) -> None:
        fields(field, value, self.resources_rules, required=RESOURCES_REQUIRED)

    def _rule_limits(self, field: str, value: Any) -> None:
        required = tuple(key for key, limit in self.limits.items() if limit)
        fields(field, value, self.limits_rules, required=required)

    def _rule_reservations(self, field: str, value: Any) -> None:
        fields(field, {} if value is None else value, self.reservations_rules)

    def _pinned(self, field: str, value: Any, key: str, setting: str) -> None:
        wanted = self.limits[key]
        if type(value) is not int or value != wanted:
            raise Refused(f"{field} must be {wanted} ({setting}), got {short(value)}")

    def _within(self, field: str, value: Any, key: str) -> None:
        limit = self.limits[key]
        if value is not None and (type(value) is not int or not 0 <= value <= limit):
            raise Refused(f"{field} must be 0 to {limit} (the limit), got {short(value)}")

    def _rule_limit_cpus(self, field: str, value: Any) -> None:
        self._pinned(field, value, "NanoCPUs", "USER_CPU_LIMIT")

    def _rule_limit_memory(self, field: str, value: Any) -> None:
        self._pinned(field, value, "MemoryBytes", "USER_MEM_LIMIT")

    def _rule_limit_pids(self, field: str, value: Any) -> None:
        self._pinned(field, value, "Pids", "USER_PIDS_LIMIT")

    def _rule_reserved_cpus(self, field: str, value: Any) -> None:
        self._within(field, value, "NanoCPUs")

    def _rule_reserved_memory(self, field: str, value: Any) -> None:
        self._within(field, value, "MemoryBytes")

    def _rule_service_labels(self, field: str, value: Any) -> None:
        # DockerSpawner adds no label of its own to a service: the hub's stack label only.
        key, wanted = self.settings.label_key, self.settings.label_value
        if value != {key: wanted}:
            raise Refused(f"{field} must be exactly the stack label {key}={wanted}")

    def _rule_task_template(self, field: str, value: Any) -> None:
        fields(field, value, self.task_template_rules, required=TASK_TEMPLATE_REQUIRED)

    def _rule_container_spec(self, field: str, value: Any) -> None:
        fields(field, value, self.container_spec_rules, required=CONTAINER_SPEC_REQUIRED)

    def _rule_service_env(self, field: str, value: Any) -> None:
        """Free but for the loader's variables and the firewall's settings (pinned). Values
        are never quoted back: the environment holds the server's hub token."""
        given: dict[str, str] = {}
        for index, entry in enumerate(string_list(field, value)):
            name, sep, item = entry.partition("=")
            if not sep or not name:
                raise Refused(f"{field}[{index}] is not NAME=value")
            if name in given:
                raise Refused(f"{field}: {name} is given twice")
            if name.startswith("LD_") or name in LOADER_VARIABLES:
                raise Refused(
                    f"{field}: {name} is not allowed (the dynamic loader or the C library reads "
                    "it, and the server's entrypoint starts as root)"
                )
            given[name] = item
        for name, wanted in self.settings.server_firewall_env:
            if given.get(name) != wanted:
                raise Refused(
                    f"{field} must set {name}={wanted!r}, the server firewall's setting as the "
                    "filter has it (give the hub and the filter the same settings)"
                )

    def _rule_container_labels(self, field: str, value: Any) -> None:
        """The task's container: no label, or the stack's label only."""
        key, wanted = self.settings.label_key, self.settings.label_value
        if not empty(value) and value != {key: wanted}:
            raise Refused(f"{field} must be absent or exactly the stack label {key}={wanted}")

    def _rule_service_mounts(self, field: str, value: Any) -> None:
        # The hub mounts one tmpfs, the runtime directory: a tmpfs elsewhere (over /etc, over
        # the home volume) would hide what the image or the volume put there.
        self._rule_mounts(field, value, tmpfs_targets=frozenset({RUNTIME_DIR}))

    def _rule_placement(self, field: str, value: Any) -> None:
        fields(field, value, self.placement_rules, required=PLACEMENT_REQUIRED)

    def _rule_constraints(self, field: str, value: Any) -> None:
        given = [normalize_constraint(c) for c in string_list(field, value)]
        wanted = list(self.settings.swarm_user_constraints)
        if given != wanted:
            raise Refused(
                f"{field} must be exactly SWARM_USER_CONSTRAINTS {wanted} (got {short(value)})"
            )

    def _rule_service_networks(self, field: str, value: Any) -> None:
        network = self.settings.users_network
        if not isinstance(value, list) or len(value) != 1:
            raise Refused(f"{field} must be the users network {network!r} alone")
        fields(f"{field}[0]", value[0], self.network_rules, required=SERVICE_NETWORK_REQUIRED)
