"""What a realm looks like in Keycloak now, in the same shape as the desired state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from idpctl.admin import AdminError, KeycloakAdmin, segment
from idpctl.model import TRACKING_ATTRIBUTE, Desired

KINDS = ("roles", "client_scopes", "clients", "groups", "users")


@dataclass
class Live:
    exists: bool
    settings: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
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
    return live
