"""The rules a user server's container (docker) and service (swarm) share: its name, its image,
the users network, ``CapDrop: ALL``, and its mounts (its own user's volume, tmpfs, the extra CA
file read-only).

``ServerRules`` holds the rules that need the settings; ``ContainerRules`` (containers.py) and
``ServiceRules`` (services.py) add their own. Their tables (key -> rule, module-level data) name
such a rule by its method's name, a string; ``ServerRules.bind`` resolves a table once, when the
rules are made, so that a misspelt name fails then and not on a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker_api_filter.refusals import Refused, Rule, json_object, must_be_empty, short, string_list
from docker_api_filter.settings import FilterSettings, template_pattern

#: A table of rules: key -> a rule, or the name of a rule method of the rules' object.
Table = Mapping[str, Rule | str]

#: Where DockerSpawner mounts the extra CA file (hub/jupyterhub_config.py).
CA_TARGET = "/etc/ssl/extra-ca.pem"
#: The keys a mount may have (a container's HostConfig.Mounts, a service's ContainerSpec.Mounts).
MOUNT_KEYS = frozenset(
    {
        "Type",
        "Source",
        "Target",
        "ReadOnly",
        "Consistency",
        "BindOptions",
        "VolumeOptions",
        "TmpfsOptions",
    }
)


def cap_drop(field: str, value: Any) -> None:
    if not any(cap.upper() == "ALL" for cap in string_list(field, value)):
        raise Refused(f'{field} must contain "ALL"')


class ServerRules:
    """The rules of a user server that need the settings, for containers and services alike."""

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        self.volume_name = template_pattern(settings.user_volume_name)
        self.container_name = template_pattern(settings.user_container_name)

    def bind(self, table: Table) -> dict[str, Rule]:
        """The table with each rule named by a string replaced by that method of ``self``."""
        return {
            key: getattr(self, rule) if isinstance(rule, str) else rule
            for key, rule in table.items()
        }

    def check_user_name(self, field: str, name: Any) -> None:
        if not isinstance(name, str) or not self.container_name.fullmatch(name):
            raise Refused(
                f"{field} {name!r} does not match USER_CONTAINER_NAME "
                f"{self.settings.user_container_name!r} (user servers only)"
            )

    def check_volumes_are_the_users(self, field: str, name: str, sources: list[Any]) -> None:
        """A user server mounts its own user's volume only: the user in the volume's name
        (USER_VOLUME_NAME) is the user in the container's or service's name
        (USER_CONTAINER_NAME), so that no server gets another user's home."""
        owner = self.container_name.fullmatch(name)
        wanted = owner.groupdict().get("username") if owner else None
        for source in sources:
            volume = self.volume_name.fullmatch(source if isinstance(source, str) else "")
            if volume and volume.groupdict().get("username") != wanted:
                raise Refused(
                    f"{field} volume {source!r} belongs to another user than {name!r}: "
                    "a user server mounts its own user's volume only"
                )

    def _rule_image(self, field: str, value: Any) -> None:
        if value != self.settings.image:
            raise Refused(
                f"{field} {short(value)} is not the single-user image {self.settings.image!r}"
            )

    def _rule_network_mode(self, field: str, value: Any) -> None:
        if value != self.settings.users_network:
            raise Refused(
                f"{field} must be the users network {self.settings.users_network!r} "
                f"(got {short(value)})"
            )

    def _is_ca_file(self, source: Any) -> bool:
        ca = self.settings.extra_ca_host_path
        return bool(ca) and source == ca

    def _rule_mounts(
        self, field: str, value: Any, tmpfs_targets: frozenset[str] | None = None
    ) -> None:
        """Mounts (a container's HostConfig.Mounts, a service's ContainerSpec.Mounts): user
        volumes, tmpfs (at ``tmpfs_targets`` only, when given) and the extra CA file."""
        if value is None:
            return
        if not isinstance(value, list):
            raise Refused(f"{field} must be a list")
        for index, item in enumerate(value):
            where = f"{field}[{index}]"
            mount = json_object(where, item, MOUNT_KEYS)
            kind, target = mount.get("Type"), mount.get("Target")
            if not isinstance(target, str) or not target.startswith("/"):
                raise Refused(f"{where}.Target must be an absolute path")
            must_be_empty(f"{where}.BindOptions", mount.get("BindOptions"))
            if kind != "volume":
                must_be_empty(f"{where}.VolumeOptions", mount.get("VolumeOptions"))
            if kind != "tmpfs":
                must_be_empty(f"{where}.TmpfsOptions", mount.get("TmpfsOptions"))
            if kind == "volume":
                self._volume_mount(where, mount)
            elif kind == "tmpfs":
                must_be_empty(f"{where}.Source", mount.get("Source"))
                if tmpfs_targets is not None and target not in tmpfs_targets:
                    raise Refused(
                        f"{where}.Target {target!r}: a tmpfs goes at {sorted(tmpfs_targets)} only"
                    )
            elif kind == "bind":
                if not self._is_ca_file(mount.get("Source")) or target != CA_TARGET:
                    raise Refused(
                        f"{where}: a bind mount may only be the extra CA file at {CA_TARGET}"
                    )
                if mount.get("ReadOnly") is not True:
                    raise Refused(f"{where}.ReadOnly must be true for the extra CA file")
            else:
                raise Refused(f"{where}.Type {short(kind)} is not allowed (volume, tmpfs)")

    def _volume_mount(self, where: str, mount: dict) -> None:
        """A volume mount: a user volume, without a driver's options."""
        source = mount.get("Source")
        if not isinstance(source, str) or not self.volume_name.fullmatch(source):
            raise Refused(
                f"{where}.Source {short(source)} is not a user volume "
                f"(USER_VOLUME_NAME {self.settings.user_volume_name!r})"
            )
        options = mount.get("VolumeOptions")
        if options is not None:
            options = json_object(
                f"{where}.VolumeOptions", options, {"NoCopy", "Labels", "DriverConfig"}
            )
            # A driver's options can make a "volume" of any host path (o=bind).
            must_be_empty(f"{where}.VolumeOptions.DriverConfig", options.get("DriverConfig"))
