"""HUB_SPAWNER=docker: the rules a container's create body must pass (``ContainerRules``).

The single-user image, the stack's label, the users network, the per-user volumes and the extra
CA file, no privileges, capabilities, devices, host namespaces or host paths: every key of the
container config (``CREATE``) and of its HostConfig (``HOST_CONFIG``) is on an allowlist with a
rule, and every other key is refused.
"""

from __future__ import annotations

import re
from typing import Any

from docker_api_filter.common import CA_TARGET, ServerRules, Table, cap_drop
from docker_api_filter.refusals import (
    Refused,
    fields,
    free,
    json_object,
    must_be_empty,
    non_negative_int,
    one_of,
    short,
    string_list,
)
from docker_api_filter.settings import FilterSettings

#: The only security options a user container may have (and must have one of).
NO_NEW_PRIVILEGES = frozenset(
    {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
)


#: A user or group in ``User``: a uid or gid in plain digits (no sign, no leading zero: Docker
#: reads "+0", "-0" and "00" as 0) or a name; root's name is refused below.
USER_PART = re.compile(r"[1-9][0-9]{0,9}|[a-z_][a-z0-9_-]{0,31}")


def rule_user(field: str, value: Any) -> None:
    """Absent or empty (the image's user), else ``user`` or ``user:group`` in exact form."""
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise Refused(f"{field} must be a string")
    parts = value.split(":")
    if len(parts) > 2 or "root" in parts or not all(USER_PART.fullmatch(p) for p in parts):
        raise Refused(
            f"{field} {short(value)}: give a user (and group) other than root, as a name or "
            "as digits without sign or leading zero (uid or gid 0 is not allowed)"
        )


def rule_security_opt(field: str, value: Any) -> None:
    options = string_list(field, value)
    others = [o for o in options if o not in NO_NEW_PRIVILEGES]
    if others:
        raise Refused(f"{field} {others[0]!r} is not allowed (only no-new-privileges)")
    if not options:
        raise Refused(f'{field} must contain "no-new-privileges:true"')


#: The container config (the create body): its keys and their rules (a string: a method of
#: ContainerRules).
CREATE: Table = {
    # Free: the user's own process, its command, environment and TTY.
    **dict.fromkeys(
        [
            "Hostname",
            "Domainname",
            "ExposedPorts",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Env",
            "Cmd",
            "Entrypoint",
            "WorkingDir",
            "Volumes",  # anonymous volumes at container paths (no host path)
            "NetworkDisabled",
            "StopSignal",
            "StopTimeout",
            "Healthcheck",
        ],
        free,
    ),
    "Image": "_rule_image",
    "Labels": "_rule_labels",
    "User": rule_user,
    "MacAddress": must_be_empty,
    "Runtime": one_of("", "runc"),
    "HostConfig": "_rule_host_config",
    "NetworkingConfig": "_rule_networking_config",
}
CREATE_REQUIRED = ("Image", "Labels", "HostConfig")

#: HostConfig: its keys and their rules (a string: a method of ContainerRules).
HOST_CONFIG: Table = {
    # Harmless behaviour, and limits that only narrow what the pinned ones below allow (CPU
    # and memory sets, I/O weight; /dev/shm and tmpfs count against the memory limit).
    **dict.fromkeys(
        [
            "AutoRemove",
            "MemorySwappiness",
            "CpusetCpus",
            "CpusetMems",
            "BlkioWeight",
            "ShmSize",
            "Ulimits",
            "ReadonlyRootfs",
            "Init",
            "Tmpfs",
            "Dns",
            "DnsOptions",
            "DnsSearch",
            "RestartPolicy",
        ],
        free,
    ),
    # The limits, pinned to the settings (USER_MEM_LIMIT, USER_CPU_LIMIT as DockerSpawner's
    # CpuQuota/CpuPeriod, USER_PIDS_LIMIT): no server gets more, nor none.
    "Memory": "_rule_memory",
    "CpuPeriod": "_rule_cpu_period",
    "CpuQuota": non_negative_int,  # checked with CpuPeriod (check_create)
    "PidsLimit": "_rule_pids_limit",
    # What DockerSpawner never sets and would loosen them: more swap or CPU shares than the
    # daemon's defaults, another way to give CPUs, real-time scheduling, the OOM killer's
    # sparing (a negative OomScoreAdj: another process is killed instead).
    **dict.fromkeys(
        [
            "MemoryReservation",
            "MemorySwap",
            "KernelMemory",
            "NanoCpus",
            "CpuShares",
            "CpuCount",
            "CpuPercent",
            "CPURealtimePeriod",
            "CPURealtimeRuntime",
            "OomScoreAdj",
        ],
        must_be_empty,
    ),
    # Privileges, devices, host namespaces, host paths, other containers: none.
    **dict.fromkeys(
        [
            "Privileged",
            "CapAdd",
            "Capabilities",
            "Devices",
            "DeviceRequests",
            "DeviceCgroupRules",
            "Sysctls",
            "VolumesFrom",
            "VolumeDriver",
            "Links",
            "ExtraHosts",
            "GroupAdd",
            "PortBindings",
            "PublishAllPorts",
            "PidMode",
            "UTSMode",
            "UsernsMode",
            "Cgroup",
            "CgroupParent",
            "OomKillDisable",
            "LogConfig",
            "StorageOpt",
            "LxcConf",
            "InitPath",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps",
        ],
        must_be_empty,
    ),
    "IpcMode": one_of("", "private", "none"),
    "CgroupnsMode": one_of("", "private"),
    "Runtime": one_of("", "runc"),
    "Isolation": one_of("", "default"),
    "NetworkMode": "_rule_network_mode",
    "CapDrop": cap_drop,
    "SecurityOpt": rule_security_opt,
    "Binds": "_rule_binds",
    "Mounts": "_rule_mounts",
}
HOST_CONFIG_REQUIRED = ("NetworkMode", "CapDrop", "SecurityOpt", "PidsLimit", "Memory")
#: DockerSpawner's CpuPeriod when it sets none (100 ms, in microseconds), and Docker's range.
CPU_PERIOD, CPU_PERIODS = 100_000, range(1000, 1_000_001)


class ContainerRules(ServerRules):
    """Decides on a container's create body (``check_create``)."""

    def __init__(self, settings: FilterSettings) -> None:
        super().__init__(settings)
        self.create_rules = self.bind(CREATE)
        self.host_config_rules = self.bind(HOST_CONFIG)

    def check_create(self, name: str, config: dict) -> None:
        """The body of ``POST /containers/create?name=name``, else Refused."""
        fields("body", config, self.create_rules, required=CREATE_REQUIRED)
        host = config["HostConfig"]
        sources = [spec.split(":")[0] for spec in host.get("Binds") or []]
        sources += [m.get("Source") for m in host.get("Mounts") or [] if m.get("Type") == "volume"]
        self.check_volumes_are_the_users("HostConfig", name, sources)
        self.check_cpu_limit(host)

    def check_cpu_limit(self, host: dict) -> None:
        """CpuQuota is USER_CPU_LIMIT times CpuPeriod, as DockerSpawner computes it (0: none)."""
        period = host.get("CpuPeriod") or CPU_PERIOD
        wanted = int(self.settings.user_cpu_limit * period)
        if (host.get("CpuQuota") or 0) != wanted:
            raise Refused(
                f"HostConfig.CpuQuota must be {wanted} (USER_CPU_LIMIT "
                f"{self.settings.user_cpu_limit} x CpuPeriod {period}), got "
                f"{short(host.get('CpuQuota'))}"
            )

    def _rule_memory(self, field: str, value: Any) -> None:
        if type(value) is not int or value != self.settings.user_memory:
            raise Refused(
                f"{field} must be {self.settings.user_memory} (USER_MEM_LIMIT), got {short(value)}"
            )

    def _rule_cpu_period(self, field: str, value: Any) -> None:
        if value is not None and (type(value) is not int or value not in CPU_PERIODS):
            raise Refused(f"{field} must be 1000 to 1000000 microseconds, got {short(value)}")

    def _rule_pids_limit(self, field: str, value: Any) -> None:
        if type(value) is not int or value != self.settings.user_pids_limit:
            raise Refused(
                f"{field} must be {self.settings.user_pids_limit} (USER_PIDS_LIMIT), got "
                f"{short(value)}"
            )

    def _rule_labels(self, field: str, value: Any) -> None:
        key, wanted = self.settings.label_key, self.settings.label_value
        if not isinstance(value, dict) or value.get(key) != wanted:
            raise Refused(f"{field} must include the stack label {key}={wanted}")

    def _rule_networking_config(self, field: str, value: Any) -> None:
        if value is None:
            return
        config = json_object(field, value, {"EndpointsConfig"})
        endpoints = config.get("EndpointsConfig")
        if endpoints is None:
            return
        json_object(f"{field}.EndpointsConfig", endpoints, {self.settings.users_network})
        for network, endpoint in endpoints.items():
            # No aliases, static addresses or links: a user container must not take over a
            # name (hub, traefik) on the users network.
            must_be_empty(f"{field}.EndpointsConfig.{network}", endpoint)

    def _rule_host_config(self, field: str, value: Any) -> None:
        fields(field, value, self.host_config_rules, required=HOST_CONFIG_REQUIRED)

    def _rule_binds(self, field: str, value: Any) -> None:
        for spec in string_list(field, value):
            parts = spec.split(":")
            if len(parts) not in (2, 3):
                raise Refused(f"{field} {spec!r} must be SOURCE:TARGET[:MODE]")
            source, target = parts[0], parts[1]
            modes = set(parts[2].split(",")) if len(parts) == 3 else set()
            if self.volume_name.fullmatch(source):
                if not target.startswith("/") or not modes <= {"rw", "ro", "nocopy"}:
                    raise Refused(f"{field} {spec!r}: a user volume takes /TARGET[:rw|ro]")
            elif self._is_ca_file(source):
                if target != CA_TARGET or modes != {"ro"}:
                    raise Refused(
                        f"{field} {spec!r}: the extra CA file binds only at {CA_TARGET}:ro"
                    )
            else:
                raise Refused(
                    f"{field} {spec!r}: the source is neither a user volume (USER_VOLUME_NAME "
                    f"{self.settings.user_volume_name!r}) nor the extra CA file"
                )
