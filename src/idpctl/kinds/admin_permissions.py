"""Keycloak's fine-grained admin permissions (v2): idp/realms/<realm>/admin-permissions.yml.

Each entry is one scope permission of the realm's ``admin-permissions`` client, on groups
or users, granted to the service accounts of the listed clients through a client policy of
its own, named after it (``<name>: clients``): idpctl creates, changes and deletes both as
one object.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import AdminError, segment
from idpctl.diff import set_changes
from idpctl.kinds.base import ObjectKind, Source

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired

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


# -- what Keycloak has ---------------------------------------------------------------------


def authorization_base(admin: KeycloakAdmin, realm: str) -> str | None:
    """The path of the admin permissions' authorization server; None when the realm has
    none (adminPermissionsEnabled is not true)."""
    found = admin.get(f"/{realm}/clients", clientId=CLIENT)
    if not found:
        return None
    return f"/{realm}/clients/{segment(found[0]['id'])}/authz/resource-server"


def fetch_admin_permissions(admin: KeycloakAdmin, realm: str, live: Live) -> None:
    """Each scope permission in the shape of read_entry, plus ``id`` and ``_policies``
    (the names of its policies)."""
    if str(live.settings.get("adminPermissionsEnabled")).lower() != "true":
        return
    base = authorization_base(admin, realm)
    if base is None:
        return
    group_names = {g["id"]: name for name, g in live.groups.items()}
    client_ids = {c["id"]: name for name, c in live.clients.items()}
    policies = {p["name"]: p for p in admin.get(f"{base}/policy", type="client")}
    for permission in admin.get(f"{base}/permission"):
        if permission.get("type") != "scope":
            continue
        pid = f"{base}/policy/{segment(permission['id'])}"
        kind = permission.get("resourceType")
        resources = [
            r["name"] for r in admin.get(f"{pid}/resources") if r["name"] != kind
        ]  # the type's own resource: all of them
        if kind == "Groups":
            resources = [group_names.get(r, r) for r in resources]
        elif kind == "Users":
            resources = [_username(admin, realm, r, live) for r in resources]
        associated = [p["name"] for p in admin.get(f"{pid}/associatedPolicies")]
        own = policies.get(policy_name(permission["name"]))
        clients = []
        if own is not None and own["name"] in associated:
            detail = admin.get(f"{base}/policy/client/{segment(own['id'])}")
            clients = [client_ids.get(c, c) for c in detail.get("clients") or []]
        live.admin_permissions[permission["name"]] = {
            "id": permission["id"],
            "name": permission["name"],
            "description": permission.get("description") or "",
            "resourceType": kind,
            "_resources": sorted(resources),
            "_scopes": sorted(s["name"] for s in admin.get(f"{pid}/scopes")),
            "_clients": sorted(clients),
            "_policies": sorted(associated),
        }


def _username(admin: KeycloakAdmin, realm: str, uid: str, live: Live) -> str:
    for name, user in live.users.items():
        if user.get("id") == uid:
            return name
    return str(admin.get(f"/{realm}/users/{segment(uid)}").get("username", uid))


# -- the plan and apply --------------------------------------------------------------------


def permission_changes(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    resources = "groups" if want["resourceType"] == "Groups" else "users"
    out = set_changes(resources, want["_resources"], have.get("_resources", []))
    out += set_changes("scopes", want["_scopes"], have.get("_scopes", []))
    out += set_changes("clients", want["_clients"], have.get("_clients", []))
    own = [policy_name(want["name"])]
    if have.get("_policies", own) != own:
        out.append(f"policies: {have['_policies']} -> {own}")
    return out


def authorization(applier: Applier) -> str:
    base = authorization_base(applier.admin, segment(applier.d.realm))
    if base is None:
        raise AdminError(
            f"realm {applier.d.realm} has no client {CLIENT!r}: set "
            "adminPermissionsEnabled: true in its realm.yml"
        )
    return base


def find_policy(applier: Applier, base: str, name: str) -> dict[str, Any] | None:
    found = applier.admin.get(f"{base}/policy", name=name, permission="false")
    found += applier.admin.get(f"{base}/permission", name=name)
    return next((p for p in found if p.get("name") == name), None)


def resource_ids(applier: Applier, permission: dict[str, Any]) -> list[str]:
    kind = "groups" if permission["resourceType"] == "Groups" else "users"
    return [applier.admin.find_id(applier.d.realm, kind, n) for n in permission["_resources"]]


class AdminPermissions(ObjectKind):
    name = "admin_permissions"
    labels = {"admin_permissions": "admin permission"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        def load(path: Path, kind: type) -> Any:
            return files.load(path, source.variables, problems, kind)

        for permission in read_file(source.realm_dir, problems, load):
            file = str(source.realm_dir / FILE)
            files.add_object(
                desired.admin_permissions, "name", permission, file, "admin permission", problems
            )

    def check(self, desired: Desired) -> list[Problem]:
        return cross_check(desired)

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        fetch_admin_permissions(admin, realm, live)

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return permission_changes(want, have)

    def apply(self, applier: Applier, change: Change) -> None:
        base = authorization(applier)
        policy = find_policy(applier, base, policy_name(change.name))
        current = find_policy(applier, base, change.name)
        if change.action == "delete":
            for obj in (current, policy):
                if obj is not None:
                    applier.admin.delete(f"{base}/policy/{segment(obj['id'])}")
            return
        want = applier.d.admin_permissions[change.name]
        clients = [applier.admin.find_id(applier.d.realm, "clients", c) for c in want["_clients"]]
        body = {
            "name": policy_name(change.name),
            "clients": clients,
            "logic": "POSITIVE",
        }
        if policy is None:
            policy = applier.admin.post(f"{base}/policy/client", body).json()
        else:
            applier.admin.put(
                f"{base}/policy/client/{segment(policy['id'])}", {**body, "id": policy["id"]}
            )
        body = {
            "name": change.name,
            "description": want["description"],
            "resourceType": want["resourceType"],
            "resources": resource_ids(applier, want),
            "scopes": want["_scopes"],
            "policies": [policy["id"]],
            "decisionStrategy": "UNANIMOUS",
        }
        if current is None:
            applier.admin.post(f"{base}/permission/scope", body)
        else:
            path = f"{base}/permission/scope/{segment(current['id'])}"
            applier.admin.put(path, {**body, "id": current["id"]})


KIND = AdminPermissions()
