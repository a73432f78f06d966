"""What a realm looks like in Keycloak now, in the same shape as the desired state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from idpctl import flows, permissions
from idpctl.admin import AdminError, KeycloakAdmin, segment
from idpctl.model import TRACKING_ATTRIBUTE, Desired

#: The kinds of objects idpctl tracks as managed, in the order they are created.
KINDS = (
    "roles",
    "client_scopes",
    "clients",
    "groups",
    "default_groups",
    "users",
    "admin_permissions",
    "authentication_flows",
)


@dataclass
class Live:
    exists: bool
    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    admin_permissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    authentication_flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    user_profile: dict[str, Any] = field(default_factory=dict)
    managed: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})


def _names(roles: list[dict[str, Any]]) -> list[str]:
    return sorted(r["name"] for r in roles)


def managed_names(raw: str, realm: str) -> dict[str, set[str]]:
    """The names idpctl recorded as managed in the realm's tracking attribute."""
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError(record)
        return {k: {str(n) for n in v} for k, v in record.items() if k in KINDS}
    except (ValueError, TypeError):
        raise AdminError(
            f"realm {realm}: its attribute {TRACKING_ATTRIBUTE} is not what idpctl wrote "
            f"({str(raw)[:80]!r}): remove the attribute in Keycloak (idpctl then manages only what "
            "the files name) and apply again"
        ) from None


def fetch(admin: KeycloakAdmin, desired: Desired) -> Live:
    realm = segment(desired.realm)
    if not admin.exists(f"/{realm}"):
        return Live(exists=False)
    settings = admin.get(f"/{realm}")
    settings.update(
        {k: v for k, v in admin.get(f"/{realm}/events/config").items() if k not in settings}
    )
    live = Live(exists=True, settings=settings)
    raw = (settings.get("attributes") or {}).get(TRACKING_ATTRIBUTE)
    if raw:
        live.managed.update(managed_names(raw, desired.realm))
    for role in admin.get(f"/{realm}/roles", briefRepresentation="false"):
        live.roles[role["name"]] = role
    for scope in admin.get(f"/{realm}/client-scopes"):
        scope["_protocolMappers"] = scope.pop("protocolMappers", [])
        scope["_roles"] = _names(
            admin.get(f"/{realm}/client-scopes/{segment(scope['id'])}/scope-mappings/realm")
        )
        live.client_scopes[scope["name"]] = scope
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
    for group in admin.get(f"/{realm}/groups", briefRepresentation="false"):
        group["_roles"] = _names(
            admin.get(f"/{realm}/groups/{segment(group['id'])}/role-mappings/realm")
        )
        live.groups[group["name"]] = group
    for username in sorted(set(desired.users) | live.managed["users"]):
        found = admin.get(f"/{realm}/users", username=username, exact="true")
        if found:
            user = found[0]
            user["_groups"] = sorted(
                g["name"] for g in admin.get(f"/{realm}/users/{segment(user['id'])}/groups")
            )
            live.users[username] = user
    for group in admin.get(f"/{realm}/default-groups"):
        live.default_groups[group["name"]] = {"name": group["name"], "id": group["id"]}
    fetch_admin_permissions(admin, realm, live)
    fetch_flows(admin, realm, set(desired.authentication_flows), live)
    if desired.user_profile is not None:
        live.user_profile = admin.get(f"/{realm}/users/profile")
    return live


def authorization_base(admin: KeycloakAdmin, realm: str) -> str | None:
    """The path of the admin permissions' authorization server; None when the realm has
    none (adminPermissionsEnabled is not true)."""
    found = admin.get(f"/{realm}/clients", clientId=permissions.CLIENT)
    if not found:
        return None
    return f"/{realm}/clients/{segment(found[0]['id'])}/authz/resource-server"


def fetch_admin_permissions(admin: KeycloakAdmin, realm: str, live: Live) -> None:
    """Each scope permission in the shape of idpctl.permissions.read_entry, plus ``id``
    and ``_policies`` (the names of its policies)."""
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
        own = policies.get(permissions.policy_name(permission["name"]))
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


def fetch_flows(admin: KeycloakAdmin, realm: str, wanted: set[str], live: Live) -> None:
    """The top-level flows the files or the tracking record name, with their steps in
    idpctl.flows' canonical shape."""
    names = wanted | live.managed["authentication_flows"]
    for flow in admin.get(f"/{realm}/authentication/flows"):
        if flow.get("alias") not in names or not flow.get("topLevel", True):
            continue
        executions = admin.get(f"/{realm}/authentication/flows/{segment(flow['alias'])}/executions")
        configs = {
            e["authenticationConfig"]: admin.get(
                f"/{realm}/authentication/config/{segment(e['authenticationConfig'])}"
            )
            for e in executions
            if e.get("authenticationConfig")
        }
        live.authentication_flows[flow["alias"]] = {
            "id": flow["id"],
            "alias": flow["alias"],
            "description": flow.get("description") or "",
            "builtIn": flow.get("builtIn", False),
            "_executions": flows.from_executions(executions, configs),
        }
