"""The difference between desired and live, object by object, readable by a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idpctl import flows, permissions, profile
from idpctl.live import KINDS, Live
from idpctl.model import BUILTIN_CLIENTS, BUILTIN_SCOPES, Desired

#: Built-in objects idpctl never deletes, even if a file once listed them.
PROTECTED = {
    "clients": BUILTIN_CLIENTS,
    "client_scopes": BUILTIN_SCOPES,
    "roles": {"offline_access", "uma_authorization"},
    "authentication_flows": flows.BUILTIN_FLOWS,
}
#: Fields compared only when the object is created (Keycloak never returns them as sent).
CREATE_ONLY = {"credentials"}
LABEL = {
    "roles": "role",
    "client_scopes": "client scope",
    "clients": "client",
    "groups": "group",
    "users": "user",
    "default_groups": "default group",
    "admin_permissions": "admin permission",
    "authentication_flows": "authentication flow",
    "realm": "realm settings",
    "flow_bindings": "realm flows",
    "user_profile": "user profile",
}
#: Objects are created in this order (each after what it names) and deleted in reverse.
ORDER = KINDS


@dataclass
class Change:
    kind: str  # "realm", "flow_bindings", "user_profile" or one of ORDER
    action: str  # create | update | delete
    name: str
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        mark = {"create": "+", "update": "~", "delete": "-"}[self.action]
        head = f"  {mark} {LABEL[self.kind]} {self.name}"
        return "\n".join([head, *(f"      {d}" for d in self.details)])


def _is_scalar_list(value: list[Any]) -> bool:
    return all(not isinstance(v, dict | list) for v in value)


def same(want: Any, have: Any) -> bool:
    """Does ``have`` (from Keycloak) already say what ``want`` (from a file) says?"""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(same(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return False
        if _is_scalar_list(want):
            return set(map(str, want)) == set(map(str, have))  # Keycloak keeps these as sets
        return len(want) == len(have) and all(same(a, b) for a, b in zip(want, have, strict=True))
    if isinstance(want, bool) or isinstance(have, bool):
        return str(want).lower() == str(have).lower()
    return want == have or (have is not None and str(want) == str(have))


def public_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_") and k not in CREATE_ONLY}


def is_confidential(client: dict[str, Any]) -> bool:
    """Keycloak keeps and shows a secret only for a client that is neither public nor
    bearer-only (idpctl.live reads it only then)."""
    return not same(True, client.get("publicClient")) and not same(True, client.get("bearerOnly"))


def field_changes(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """The fields of ``want`` that ``have`` does not already say. A null field is not
    compared: Keycloak leaves a field as it is when an update gives null for it."""
    out = []
    for key, value in public_fields(want).items():
        if value is None or (key == "secret" and not is_confidential(want)):
            continue
        if not same(value, have.get(key)):
            shown = "(secret)" if key == "secret" else _short(value)
            out.append(
                f"{key}: {_short(have.get(key)) if key != 'secret' else '(secret)'} -> {shown}"
            )
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def set_changes(label: str, want: list[str] | None, have: list[str]) -> list[str]:
    if want is None:
        return []
    added, removed = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    return [f"{label}: + {x}" for x in added] + [f"{label}: - {x}" for x in removed]


def mapper_changes(want: list[dict[str, Any]], have: list[dict[str, Any]]) -> list[str]:
    live = {m["name"]: m for m in have}
    out = []
    for mapper in want:
        current = live.pop(mapper["name"], None)
        if current is None:
            out.append(f"protocol mapper: + {mapper['name']}")
        elif not same(mapper, current):
            out.append(f"protocol mapper: ~ {mapper['name']}")
    out += [f"protocol mapper: - {name}" for name in sorted(live)]
    return out


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


def sub_changes(kind: str, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    out = []
    if "_protocolMappers" in want:
        out += mapper_changes(want["_protocolMappers"], have.get("_protocolMappers", []))
    if kind == "clients":
        have_default = have.get("_defaultScopes", [])
        have_optional = have.get("_optionalScopes", [])
        default, optional = client_scope_lists(want, have_default, have_optional)
        out += set_changes("default client scopes", default, have_default)
        out += set_changes("optional client scopes", optional, have_optional)
    if kind in ("client_scopes", "groups"):
        out += set_changes("realm roles", want["_roles"], have.get("_roles", []))
    if kind == "users":
        out += set_changes("groups", want["_groups"], have.get("_groups", []))
    if kind == "admin_permissions":
        out += permission_changes(want, have)
    if kind == "authentication_flows":
        out += flows.differences(want["_executions"], have.get("_executions", []))
    return out


def permission_changes(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    resources = "groups" if want["resourceType"] == "Groups" else "users"
    out = set_changes(resources, want["_resources"], have.get("_resources", []))
    out += set_changes("scopes", want["_scopes"], have.get("_scopes", []))
    out += set_changes("clients", want["_clients"], have.get("_clients", []))
    own = [permissions.policy_name(want["name"])]
    if have.get("_policies", own) != own:
        out.append(f"policies: {have['_policies']} -> {own}")
    return out


def realm_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """The realm settings sent with the realm itself: not those that name a flow (sent
    once the flows exist)."""
    return {k: v for k, v in public_fields(settings).items() if k not in flows.BINDINGS}


def binding_changes(desired: Desired, live: Live, deleted_flows: set[str]) -> list[str]:
    """The realm settings that name a flow and differ; a binding to a flow idpctl deletes
    goes back to Keycloak's built-in flow."""
    want = {k: desired.settings[k] for k in flows.BINDINGS if desired.settings.get(k) is not None}
    for key, builtin in flows.BINDINGS.items():
        if key not in want and live.settings.get(key) in deleted_flows:
            want[key] = builtin
    return field_changes(want, live.settings)


def profile_changes(want: dict[str, dict[str, Any]] | None, have: dict[str, Any]) -> list[str]:
    """The file's user profile attributes that Keycloak's user profile does not say."""
    current = {a.get("name"): a for a in have.get("attributes") or []}
    out = []
    for name, attribute in (want or {}).items():
        if name not in current:
            out.append(f"attribute: + {name}")
        else:
            out += [f"attribute {name}: {d}" for d in field_changes(attribute, current[name])]
            removed = profile.removed_keys(current[name], attribute)
            out += [f"attribute {name}: - {key}" for key in removed]
    return out


def compute(desired: Desired, live: Live) -> list[Change]:
    changes: list[Change] = []
    if not live.exists:
        changes.append(Change("realm", "create", desired.realm))
    else:
        details = field_changes(realm_fields(desired.settings), live.settings)
        if details:
            changes.append(Change("realm", "update", desired.realm, details))
    details = profile_changes(desired.user_profile, live.user_profile)
    if details:
        changes.append(Change("user_profile", "update", desired.realm, details))
    for kind in ORDER:
        want_all: dict[str, dict[str, Any]] = getattr(desired, kind)
        have_all: dict[str, dict[str, Any]] = getattr(live, kind)
        for name, want in want_all.items():
            have = have_all.get(name)
            if have is None:
                changes.append(Change(kind, "create", name))
            else:
                details = field_changes(want, have) + sub_changes(kind, want, have)
                if details:
                    changes.append(Change(kind, "update", name, details))
    deletes = [
        Change(kind, "delete", name)
        for kind in reversed(ORDER)
        for name in sorted(live.managed[kind] - set(getattr(desired, kind)))
        if name in getattr(live, kind) and name not in PROTECTED.get(kind, set())
    ]
    deleted_flows = {c.name for c in deletes if c.kind == "authentication_flows"}
    details = binding_changes(desired, live, deleted_flows)
    if details:
        changes.append(Change("flow_bindings", "update", desired.realm, details))
    return changes + deletes


def summary(realm: str, changes: list[Change]) -> str:
    if not changes:
        return f"Realm {realm}: no changes."
    counts = {a: sum(c.action == a for c in changes) for a in ("create", "update", "delete")}
    lines = [f"Realm {realm}:", *map(str, changes)]
    lines.append(
        f"Plan for {realm}: {counts['create']} to create, {counts['update']} to "
        f"update, {counts['delete']} to delete."
    )
    return "\n".join(lines)
