"""Realm roles: idp/realms/<realm>/roles/<file>.yml, one role per file (an API scope's gate
role comes from the API registry, idpctl.kinds.apis)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import segment
from idpctl.diff import public_fields
from idpctl.kinds.base import ObjectKind, Source

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired

UNDEFINED_ROLE = "is not defined (in roles/, or as an API scope's role in apis.yml)"


def builtin_roles(realm: str) -> set[str]:
    """Realm roles Keycloak creates in every realm; files may reference them."""
    return {"offline_access", "uma_authorization", f"default-roles-{realm}"}


def undefined_roles(desired: Desired, objects: dict[str, Any], label: str) -> list[Problem]:
    """A problem for each realm role an object of ``objects`` (client scopes, groups: their
    ``_roles``) names that neither Keycloak nor the files define."""
    roles = builtin_roles(desired.realm) | set(desired.roles)
    return [
        Problem(obj["_file"], f"{label} {name}", f"realm role {role!r} {UNDEFINED_ROLE}")
        for name, obj in objects.items()
        for role in obj["_roles"]
        if role not in roles
    ]


def read_roles(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    for path in sorted((realm_dir / "roles").glob("*.yml")):
        role, file = files.load(path, variables, problems, dict), str(path)
        fields.check(role, fields.ROLE, file, f"role {role.get('name')}", problems)
        files.add_object(
            desired.roles, "name", role, file, "role", problems, builtin_roles(desired.realm)
        )


class Roles(ObjectKind):
    name = "roles"
    labels = {"roles": "role"}
    protected = {"offline_access", "uma_authorization"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        read_roles(desired, source.realm_dir, source.variables, problems)

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        for role in admin.get(f"/{realm}/roles", briefRepresentation="false"):
            live.roles[role["name"]] = role

    def apply(self, applier: Applier, change: Change) -> None:
        if change.action == "create":
            applier.admin.post(f"{applier.r}/roles", public_fields(applier.d.roles[change.name]))
            return
        rid = segment(applier.role(change.name, applier.roles())["id"])
        if change.action == "delete":
            applier.admin.delete(f"{applier.r}/roles-by-id/{rid}")
        else:
            applier.admin.put(
                f"{applier.r}/roles-by-id/{rid}", public_fields(applier.d.roles[change.name])
            )


KIND = Roles()
