"""Keycloak's fine-grained admin permissions (v2): idp/realms/<realm>/admin-permissions.yml.

Each entry is one scope permission of the realm's ``admin-permissions`` client, on groups
or users, granted to the service accounts of the listed clients through a client policy of
its own, named after it (``<name>: clients``): idpctl creates, changes and deletes both as
one object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apiregistry import Problem
from idpctl import fields

FILE = "admin-permissions.yml"
#: The client Keycloak adds to a realm with adminPermissionsEnabled; it holds the permissions.
CLIENT = "admin-permissions"
#: The scopes of each resource type a file may name (Keycloak 26's admin permission schema).
SCOPES = {
    "Groups": (
        "view",
        "view-members",
        "manage",
        "manage-members",
        "manage-membership",
        "manage-membership-of-members",
        "impersonate-members",
    ),
    "Users": (
        "view",
        "manage",
        "manage-group-membership",
        "map-roles",
        "impersonate",
        "reset-password",
    ),
}
#: The key that lists a resource type's objects, and the file that defines them.
RESOURCES = {"Groups": ("groups", "groups.yml"), "Users": ("users", "users.yml")}
KEYS = {"name", "description", "resourceType", "groups", "users", "scopes", "clients"}
SCHEMA = fields._schema(S="name description resourceType", SL="groups users scopes clients")


def policy_name(permission: str) -> str:
    """The client policy that belongs to one permission (the clients it is granted to)."""
    return f"{permission}: clients"


def _list(entry: dict[str, Any], key: str, file: str, what: str, problems: list[Problem]) -> list:
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(fields.is_name(v) for v in value):
        problems.append(Problem(file, what, f"{key} must be a list of names, got {value!r}"))
        return []
    return list(value)


def read_entry(entry: Any, file: str, index: int, problems: list[Problem]) -> dict | None:
    """One permission in the shape idpctl compares: name, description, resourceType, and
    ``_resources`` (group names or usernames; [] for Users: all users), ``_scopes``,
    ``_clients``. None when it is not a mapping with a name."""
    if not isinstance(entry, dict):
        problems.append(
            Problem(file, f"permission [{index}]", f"expected a mapping, got {entry!r}")
        )
        return None
    what = f"admin permission {entry.get('name')}"
    if not fields.check(entry, SCHEMA, file, what, problems):
        return None
    for key in sorted(set(map(str, entry)) - KEYS):
        problems.append(
            Problem(file, what, f"unknown key {key!r} (known: {', '.join(sorted(KEYS))})")
        )
    kind = entry.get("resourceType")
    if kind not in SCOPES:
        problems.append(Problem(file, what, f"resourceType must be Groups or Users, got {kind!r}"))
        return None
    key, other = RESOURCES[kind][0], RESOURCES["Users" if kind == "Groups" else "Groups"][0]
    if entry.get(other) is not None:
        problems.append(
            Problem(file, what, f"{other} does not apply to resourceType {kind}: use {key}")
        )
    resources = _list(entry, key, file, what, problems)
    if kind == "Groups" and not resources:
        problems.append(Problem(file, what, "groups must name at least one group"))
    scopes = _list(entry, "scopes", file, what, problems)
    if not scopes:
        problems.append(Problem(file, what, f"scopes must name at least one of {SCOPES[kind]}"))
    for scope in scopes:
        if scope not in SCOPES[kind]:
            problems.append(
                Problem(
                    file,
                    what,
                    f"scope {scope!r} is not a scope of {kind} (known: {', '.join(SCOPES[kind])})",
                )
            )
    clients = _list(entry, "clients", file, what, problems)
    if not clients:
        problems.append(
            Problem(file, what, "clients must name the client(s) whose service account gets it")
        )
    return {
        "name": entry.get("name"),
        "description": entry.get("description") or "",
        "resourceType": kind,
        "_resources": sorted(set(resources)),
        "_scopes": sorted(set(scopes)),
        "_clients": sorted(set(clients)),
    }


def read_file(realm_dir: Path, problems: list[Problem], load: Any) -> list[dict[str, Any]]:
    """The permissions of admin-permissions.yml (none when the file is absent); ``load``
    reads and resolves the file as a list."""
    path = realm_dir / FILE
    found = []
    for i, entry in enumerate(load(path, list)):
        permission = read_entry(entry, str(path), i, problems)
        if permission is not None:
            found.append(permission)
    return found


def cross_check(d: Any) -> list[Problem]:
    """The realm enables admin permissions, and every group, user and client is defined;
    a client is a service account that logs in no user (its policy would grant a user's
    token of that client the same rights)."""
    problems: list[Problem] = []
    if d.admin_permissions and str(d.settings.get("adminPermissionsEnabled")).lower() != "true":
        first = next(iter(d.admin_permissions.values()))
        problems.append(
            Problem(
                str(Path(first["_file"]).with_name("realm.yml")),
                f"realm {d.realm}",
                f"adminPermissionsEnabled must be true: {FILE} defines admin permissions",
            )
        )
    for name, permission in d.admin_permissions.items():
        file, what = permission["_file"], f"admin permission {name}"
        key, defined_in = RESOURCES[permission["resourceType"]]
        known = d.groups if key == "groups" else d.users
        for resource in permission["_resources"]:
            if resource not in known:
                problems.append(
                    Problem(
                        file,
                        what,
                        f"{key}: {resource!r} is not defined in {Path(file).with_name(defined_in)}",
                    )
                )
        for client_id in permission["_clients"]:
            client = d.clients.get(client_id)
            if client is None:
                problems.append(
                    Problem(
                        file,
                        what,
                        f"clients: {client_id!r} is not defined in "
                        f"{Path(file).with_name('clients')}",
                    )
                )
                continue
            logins = [
                flow
                for flow in (
                    "standardFlowEnabled",
                    "implicitFlowEnabled",
                    "directAccessGrantsEnabled",
                )
                if str(client.get(flow)).lower() != "false"
            ]
            if str(client.get("serviceAccountsEnabled")).lower() != "true" or logins:
                problems.append(
                    Problem(
                        file,
                        what,
                        f"clients: {client_id!r} must be a service account only "
                        "(serviceAccountsEnabled: true; standardFlowEnabled, implicitFlowEnabled "
                        "and directAccessGrantsEnabled: false): a user's token of that client "
                        "would get the permission too",
                    )
                )
    return problems
