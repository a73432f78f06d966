"""Clients: idp/realms/<realm>/clients/<file>.yml, one client per file, possibly from a
template of idp/templates/clients/ (idpctl.templates); an API's own client comes from the
API registry (idpctl.kinds.apis). With their protocol mappers and their default and
optional client scopes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import AdminError, segment
from idpctl.diff import set_changes
from idpctl.kinds.base import ObjectKind, Source
from idpctl.kinds.client_scopes import BUILTIN_SCOPES
from idpctl.templates import expand

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired

#: Clients Keycloak creates in every realm: never redefined by an API, never deleted.
BUILTIN_CLIENTS = {
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
}


def templates_folder(realm_dir: Path) -> Path:
    """idp/templates/ for idp/realms/<realm>/ (see idpctl.templates)."""
    return realm_dir.parent.parent / "templates"


def read_clients(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    templates = templates_folder(realm_dir) / "clients"
    for path in sorted((realm_dir / "clients").glob("*.yml")):
        file = str(path)
        client = expand(
            files.read_file(path, problems, dict), templates, file, "client", "clientId", problems
        )
        if client is None:
            continue
        client = files.resolve_variables(client, variables, file, problems)
        what = f"client {client.get('clientId')}"
        fields.check(client, fields.CLIENT, file, what, problems)
        # Absent lists are left as Keycloak has them; listed ones are managed exactly.
        client["_optionalScopes"] = files.names(
            client, "optionalClientScopes", file, what, problems
        )
        client["_defaultScopes"] = files.names(client, "defaultClientScopes", file, what, problems)
        client["_protocolMappers"] = files.protocol_mappers(client, file, what, problems)
        files.add_object(
            desired.clients, "clientId", client, file, "client", problems, BUILTIN_CLIENTS
        )


def check_clients(d: Desired) -> list[Problem]:
    """Each client's scopes are defined, each in one list; its redirect URIs are absolute."""
    problems: list[Problem] = []
    scopes = BUILTIN_SCOPES | set(d.client_scopes)
    for client_id, client in d.clients.items():
        file, what = client["_file"], f"client {client_id}"
        default, optional = client["_defaultScopes"] or [], client["_optionalScopes"] or []
        for scope in sorted(set(default) | set(optional)):
            if scope not in scopes:
                fields = [
                    name
                    for name, listed in (
                        ("defaultClientScopes", default),
                        ("optionalClientScopes", optional),
                    )
                    if scope in listed
                ]
                problems.append(
                    Problem(
                        file,
                        what,
                        f"{' and '.join(fields)} references undefined client scope {scope!r} "
                        "(define it in client-scopes/, as an API scope in apis.yml, or use a "
                        "built-in)",
                    )
                )
        for scope in sorted(set(default) & set(optional)):
            problems.append(
                Problem(
                    file,
                    what,
                    f"client scope {scope!r} is both a default and an optional scope "
                    "(Keycloak links it one way only)",
                )
            )
        uris = client.get("redirectUris")
        for uri in uris if isinstance(uris, list) else []:
            if isinstance(uri, str) and not re.match(r"^https?://[^/]+", uri):
                problems.append(
                    Problem(
                        file, what, f"redirect URI {uri!r} is not absolute (use https://host/path)"
                    )
                )
    return problems


def client_scope_lists(
    want: dict[str, Any], have_default: list[str], have_optional: list[str]
) -> tuple[list[str] | None, list[str] | None]:
    """The default and optional client scopes a client must end with (None: left as they
    are). Keycloak links a scope to a client once, as default or as optional, and silently
    ignores a link to a scope linked the other way: a scope a file lists in one list leaves
    the other, even when the file leaves that other list to Keycloak."""
    default, optional = want.get("_defaultScopes"), want.get("_optionalScopes")
    if default is None and optional and set(optional) & set(have_default):
        default = [s for s in have_default if s not in optional]
    if optional is None and default and set(default) & set(have_optional):
        optional = [s for s in have_optional if s not in default]
    return default, optional


def sync_client_scopes(
    applier: Applier, cid: str, want_default: list[str] | None, want_optional: list[str] | None
) -> None:
    scope_ids = {s["name"]: s["id"] for s in applier.admin.get(f"{applier.r}/client-scopes")}
    base = f"{applier.r}/clients/{segment(cid)}"
    have = {
        which: [s["name"] for s in applier.admin.get(f"{base}/{which}-client-scopes")]
        for which in ("default", "optional")
    }
    want = {"_defaultScopes": want_default, "_optionalScopes": want_optional}
    default, optional = client_scope_lists(want, have["default"], have["optional"])
    links = {"default": default, "optional": optional}

    def path(which: str, name: str) -> str:
        if name not in scope_ids:
            raise AdminError(f"client scope {name!r} not found in realm {applier.d.realm}")
        return f"{base}/{which}-client-scopes/{segment(scope_ids[name])}"

    for which, names in links.items():  # removals first: a scope may move lists
        if names is not None:
            for name in sorted(set(have[which]) - set(names)):
                applier.admin.delete(path(which, name))
    for which, names in links.items():
        if names is not None:
            for name in sorted(set(names) - set(have[which])):
                applier.admin.put(path(which, name))


class Clients(ObjectKind):
    name = "clients"
    labels = {"clients": "client"}
    protected = BUILTIN_CLIENTS

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        read_clients(desired, source.realm_dir, source.variables, problems)

    def check(self, desired: Desired) -> list[Problem]:
        return check_clients(desired)

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        for client in admin.get(f"/{realm}/clients"):
            cid = segment(client["id"])
            client["_protocolMappers"] = client.pop("protocolMappers", [])
            client["_defaultScopes"] = sorted(
                s["name"] for s in admin.get(f"/{realm}/clients/{cid}/default-client-scopes")
            )
            client["_optionalScopes"] = sorted(
                s["name"] for s in admin.get(f"/{realm}/clients/{cid}/optional-client-scopes")
            )
            client.pop("defaultClientScopes", None)
            client.pop("optionalClientScopes", None)
            if not client.get("publicClient") and not client.get("bearerOnly"):
                client["secret"] = admin.get(f"/{realm}/clients/{cid}/client-secret").get("value")
            live.clients[client["clientId"]] = client

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        have_default = have.get("_defaultScopes", [])
        have_optional = have.get("_optionalScopes", [])
        default, optional = client_scope_lists(want, have_default, have_optional)
        out = set_changes("default client scopes", default, have_default)
        out += set_changes("optional client scopes", optional, have_optional)
        return out

    def apply(self, applier: Applier, change: Change) -> None:
        cid = applier.upsert(change, "clients", applier.d.clients)
        if cid:
            want = applier.d.clients[change.name]
            applier.sync_mappers(f"{applier.r}/clients/{segment(cid)}", want["_protocolMappers"])
            sync_client_scopes(
                applier, cid, want.get("_defaultScopes"), want.get("_optionalScopes")
            )


KIND = Clients()
