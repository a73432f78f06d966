"""Groups: idp/realms/<realm>/groups.yml, with their realm roles (an API scope's role is
added to the groups the registry lists for it, idpctl.kinds.apis)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import segment
from idpctl.diff import role_names, set_changes
from idpctl.kinds.base import ObjectKind, Source
from idpctl.kinds.roles import undefined_roles

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired


class Groups(ObjectKind):
    name = "groups"
    labels = {"groups": "group"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        file = source.realm_dir / "groups.yml"
        for group in files.load(file, source.variables, problems, list):
            if isinstance(group, dict):
                what = f"group {group.get('name')}"
                fields.check(group, fields.GROUP, str(file), what, problems)
                group["_roles"] = files.names(group, "realmRoles", str(file), what, problems) or []
            files.add_object(desired.groups, "name", group, str(file), "group", problems)

    def check(self, desired: Desired) -> list[Problem]:
        return undefined_roles(desired, desired.groups, "group")

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        for group in admin.get(f"/{realm}/groups", briefRepresentation="false"):
            group["_roles"] = role_names(
                admin.get(f"/{realm}/groups/{segment(group['id'])}/role-mappings/realm")
            )
            live.groups[group["name"]] = group

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return set_changes("realm roles", want["_roles"], have.get("_roles", []))

    def apply(self, applier: Applier, change: Change) -> None:
        gid = applier.upsert(change, "groups", applier.d.groups)
        if gid:
            applier.sync_role_mappings(
                f"{applier.r}/groups/{segment(gid)}/role-mappings/realm",
                applier.d.groups[change.name]["_roles"],
            )


KIND = Groups()
