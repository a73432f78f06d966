"""Default groups: realm.yml's defaultGroups, by group name. Keycloak takes them through
their own endpoint, by group id: every new user, self-registered ones too, joins them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from apiregistry import Problem
from idpctl.admin import segment
from idpctl.kinds.base import ObjectKind, Source

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired


class DefaultGroups(ObjectKind):
    name = "default_groups"
    labels = {"default_groups": "default group"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        """realm.yml's defaultGroups, removed from the settings (sent with the realm)."""
        file = str(source.realm_dir / "realm.yml")
        names = desired.settings.pop("defaultGroups", None)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return  # absent, or not a list of names: fields.check (kinds.realm) reports it
        for name in names:
            desired.default_groups[name.lstrip("/")] = {"name": name.lstrip("/"), "_file": file}

    def check(self, desired: Desired) -> list[Problem]:
        problems: list[Problem] = []
        for name, default in desired.default_groups.items():
            if name not in desired.groups:
                problems.append(
                    Problem(
                        default["_file"],
                        f"realm {desired.realm}",
                        f"defaultGroups: group {name!r} is not defined in "
                        f"{Path(default['_file']).with_name('groups.yml')}",
                    )
                )
        return problems

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        for group in admin.get(f"/{realm}/default-groups"):
            live.default_groups[group["name"]] = {"name": group["name"], "id": group["id"]}

    def apply(self, applier: Applier, change: Change) -> None:
        gid = applier.admin.find_id(applier.d.realm, "groups", change.name)
        path = f"{applier.r}/default-groups/{segment(gid)}"
        if change.action == "delete":
            applier.admin.delete(path)
        else:
            applier.admin.put(path)


KIND = DefaultGroups()
