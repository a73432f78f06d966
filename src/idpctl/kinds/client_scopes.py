"""Client scopes: idp/realms/<realm>/client-scopes/<file>.yml, one scope per file (an API's
scopes come from the API registry, idpctl.kinds.apis), with their protocol mappers and the
realm roles that may obtain them."""

from __future__ import annotations

from pathlib import Path
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

#: Client scopes Keycloak creates in every realm; files may reference them.
BUILTIN_SCOPES = {
    "acr",
    "address",
    "basic",
    "email",
    "microprofile-jwt",
    "offline_access",
    "organization",
    "phone",
    "profile",
    "role_list",
    "roles",
    "saml_organization",
    "service_account",
    "web-origins",
}


def read_client_scopes(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    for path in sorted((realm_dir / "client-scopes").glob("*.yml")):
        scope, file = files.load(path, variables, problems, dict), str(path)
        what = f"client scope {scope.get('name')}"
        fields.check(scope, fields.CLIENT_SCOPE, file, what, problems)
        scope["_protocolMappers"] = files.protocol_mappers(scope, file, what, problems)
        scope["_roles"] = files.names(scope, "roles", file, what, problems) or []
        files.add_object(
            desired.client_scopes, "name", scope, file, "client scope", problems, BUILTIN_SCOPES
        )


class ClientScopes(ObjectKind):
    name = "client_scopes"
    labels = {"client_scopes": "client scope"}
    protected = BUILTIN_SCOPES

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        read_client_scopes(desired, source.realm_dir, source.variables, problems)

    def check(self, desired: Desired) -> list[Problem]:
        return undefined_roles(desired, desired.client_scopes, "client scope")

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        for scope in admin.get(f"/{realm}/client-scopes"):
            scope["_protocolMappers"] = scope.pop("protocolMappers", [])
            scope["_roles"] = role_names(
                admin.get(f"/{realm}/client-scopes/{segment(scope['id'])}/scope-mappings/realm")
            )
            live.client_scopes[scope["name"]] = scope

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return set_changes("realm roles", want["_roles"], have.get("_roles", []))

    def apply(self, applier: Applier, change: Change) -> None:
        oid = applier.upsert(change, "client-scopes", applier.d.client_scopes)
        if oid:
            base = f"{applier.r}/client-scopes/{segment(oid)}"
            want = applier.d.client_scopes[change.name]
            applier.sync_mappers(base, want["_protocolMappers"])
            applier.sync_role_mappings(f"{base}/scope-mappings/realm", want["_roles"])


KIND = ClientScopes()
