"""Carry out a plan through the admin API, in dependency order, and record what is managed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from idpctl import flows, permissions, profile
from idpctl.admin import AdminError, KeycloakAdmin, segment
from idpctl.live import KINDS, TRACKING_ATTRIBUTE, Live, authorization_base
from idpctl.model import Desired
from idpctl.plan import Change, client_scope_lists, public_fields, realm_fields, same


class ApplyError(Exception):
    """Some changes were applied and one failed: the message says which."""


class Applier:
    def __init__(self, admin: KeycloakAdmin, desired: Desired) -> None:
        self.admin = admin
        self.d = desired
        self.r = f"/{segment(desired.realm)}"
        #: The flows idpctl managed before this apply (a realm setting naming one it
        #: deletes goes back to the built-in flow).
        self.managed_flows: set[str] = set()

    # -- sub-resources, synced against what Keycloak has right now -------------------------

    def sync_mappers(self, base: str, want: list[dict[str, Any]]) -> None:
        models = f"{base}/protocol-mappers/models"
        live = {m["name"]: m for m in self.admin.get(models)}
        for mapper in want:
            current = live.pop(mapper["name"], None)
            if current is None:
                self.admin.post(models, mapper)
            elif not same(mapper, current):
                self.admin.put(
                    f"{models}/{segment(current['id'])}", {**mapper, "id": current["id"]}
                )
        for mapper in live.values():
            self.admin.delete(f"{models}/{segment(mapper['id'])}")

    def roles(self) -> dict[str, Any]:
        """The realm's roles by name. Roles are then addressed by id (roles-by-id): a name
        never becomes a path (a role named .. would otherwise address the realm itself)."""
        return {r["name"]: r for r in self.admin.get(f"{self.r}/roles")}

    def role(self, name: str, roles: dict[str, Any]) -> Any:
        if name not in roles:
            raise AdminError(f"realm role {name!r} not found in realm {self.d.realm}")
        return roles[name]

    def sync_role_mappings(self, path: str, want: list[str]) -> None:
        have = {r["name"] for r in self.admin.get(path)}
        if have == set(want):
            return
        roles = self.roles()
        remove = [self.role(n, roles) for n in sorted(have - set(want))]
        add = [self.role(n, roles) for n in sorted(set(want) - have)]
        if remove:
            self.admin.delete(path, remove)
        if add:
            self.admin.post(path, add)

    def sync_client_scopes(
        self, cid: str, want_default: list[str] | None, want_optional: list[str] | None
    ) -> None:
        scope_ids = {s["name"]: s["id"] for s in self.admin.get(f"{self.r}/client-scopes")}
        base = f"{self.r}/clients/{segment(cid)}"
        have = {
            which: [s["name"] for s in self.admin.get(f"{base}/{which}-client-scopes")]
            for which in ("default", "optional")
        }
        want = {"_defaultScopes": want_default, "_optionalScopes": want_optional}
        default, optional = client_scope_lists(want, have["default"], have["optional"])
        links = {"default": default, "optional": optional}

        def path(which: str, name: str) -> str:
            if name not in scope_ids:
                raise AdminError(f"client scope {name!r} not found in realm {self.d.realm}")
            return f"{base}/{which}-client-scopes/{segment(scope_ids[name])}"

        for which, names in links.items():  # removals first: a scope may move lists
            if names is not None:
                for name in sorted(set(have[which]) - set(names)):
                    self.admin.delete(path(which, name))
        for which, names in links.items():
            if names is not None:
                for name in sorted(set(names) - set(have[which])):
                    self.admin.put(path(which, name))

    # -- one change ------------------------------------------------------------------------

    def run(self, change: Change) -> None:
        getattr(self, f"_{change.kind}")(change)

    def _realm(self, change: Change) -> None:
        body = realm_fields(self.d.settings)
        if change.action == "create":
            self.admin.post("", body)
        else:
            self.admin.put(self.r, body)

    def _roles(self, change: Change) -> None:
        if change.action == "create":
            self.admin.post(f"{self.r}/roles", public_fields(self.d.roles[change.name]))
            return
        rid = segment(self.role(change.name, self.roles())["id"])
        if change.action == "delete":
            self.admin.delete(f"{self.r}/roles-by-id/{rid}")
        else:
            self.admin.put(f"{self.r}/roles-by-id/{rid}", public_fields(self.d.roles[change.name]))

    def _upsert(self, change: Change, collection: str, want_all: dict[str, Any]) -> str | None:
        """Create, update or delete one object; its id, unless it was deleted."""
        if change.action == "create":
            self.admin.post(f"{self.r}/{collection}", public_fields(want_all[change.name]))
        oid = self.admin.find_id(self.d.realm, collection, change.name)
        base = f"{self.r}/{collection}/{segment(oid)}"
        if change.action == "delete":
            self.admin.delete(base)
            return None
        if change.action == "update":
            self.admin.put(base, {**public_fields(want_all[change.name]), "id": oid})
        return oid

    def _client_scopes(self, change: Change) -> None:
        oid = self._upsert(change, "client-scopes", self.d.client_scopes)
        if oid:
            base = f"{self.r}/client-scopes/{segment(oid)}"
            want = self.d.client_scopes[change.name]
            self.sync_mappers(base, want["_protocolMappers"])
            self.sync_role_mappings(f"{base}/scope-mappings/realm", want["_roles"])

    def _clients(self, change: Change) -> None:
        cid = self._upsert(change, "clients", self.d.clients)
        if cid:
            want = self.d.clients[change.name]
            self.sync_mappers(f"{self.r}/clients/{segment(cid)}", want["_protocolMappers"])
            self.sync_client_scopes(cid, want.get("_defaultScopes"), want.get("_optionalScopes"))

    def _groups(self, change: Change) -> None:
        gid = self._upsert(change, "groups", self.d.groups)
        if gid:
            self.sync_role_mappings(
                f"{self.r}/groups/{segment(gid)}/role-mappings/realm",
                self.d.groups[change.name]["_roles"],
            )

    def _users(self, change: Change) -> None:
        if change.action == "create":
            want = self.d.users[change.name]
            body = {k: v for k, v in want.items() if not k.startswith("_")}
            self.admin.post(f"{self.r}/users", body)
        uid = self.admin.find_id(self.d.realm, "users", change.name)
        base = f"{self.r}/users/{segment(uid)}"
        if change.action == "delete":
            self.admin.delete(base)
            return
        want = self.d.users[change.name]
        if change.action == "update":
            self.admin.put(base, public_fields(want))
        have = {g["name"]: g["id"] for g in self.admin.get(f"{base}/groups")}
        for name in sorted(set(have) - set(want["_groups"])):
            self.admin.delete(f"{base}/groups/{segment(have[name])}")
        for name in sorted(set(want["_groups"]) - set(have)):
            gid = self.admin.find_id(self.d.realm, "groups", name)
            self.admin.put(f"{base}/groups/{segment(gid)}")

    def _default_groups(self, change: Change) -> None:
        gid = self.admin.find_id(self.d.realm, "groups", change.name)
        path = f"{self.r}/default-groups/{segment(gid)}"
        if change.action == "delete":
            self.admin.delete(path)
        else:
            self.admin.put(path)

    # -- admin permissions (idpctl.permissions) --------------------------------------------

    def authorization(self) -> str:
        base = authorization_base(self.admin, segment(self.d.realm))
        if base is None:
            raise AdminError(
                f"realm {self.d.realm} has no client {permissions.CLIENT!r}: set "
                "adminPermissionsEnabled: true in its realm.yml"
            )
        return base

    def find_policy(self, base: str, name: str) -> dict[str, Any] | None:
        found = self.admin.get(f"{base}/policy", name=name, permission="false")
        found += self.admin.get(f"{base}/permission", name=name)
        return next((p for p in found if p.get("name") == name), None)

    def resource_ids(self, permission: dict[str, Any]) -> list[str]:
        kind = "groups" if permission["resourceType"] == "Groups" else "users"
        return [self.admin.find_id(self.d.realm, kind, n) for n in permission["_resources"]]

    def _admin_permissions(self, change: Change) -> None:
        base = self.authorization()
        policy = self.find_policy(base, permissions.policy_name(change.name))
        current = self.find_policy(base, change.name)
        if change.action == "delete":
            for obj in (current, policy):
                if obj is not None:
                    self.admin.delete(f"{base}/policy/{segment(obj['id'])}")
            return
        want = self.d.admin_permissions[change.name]
        clients = [self.admin.find_id(self.d.realm, "clients", c) for c in want["_clients"]]
        body = {
            "name": permissions.policy_name(change.name),
            "clients": clients,
            "logic": "POSITIVE",
        }
        if policy is None:
            policy = self.admin.post(f"{base}/policy/client", body).json()
        else:
            self.admin.put(
                f"{base}/policy/client/{segment(policy['id'])}", {**body, "id": policy["id"]}
            )
        body = {
            "name": change.name,
            "description": want["description"],
            "resourceType": want["resourceType"],
            "resources": self.resource_ids(want),
            "scopes": want["_scopes"],
            "policies": [policy["id"]],
            "decisionStrategy": "UNANIMOUS",
        }
        if current is None:
            self.admin.post(f"{base}/permission/scope", body)
        else:
            path = f"{base}/permission/scope/{segment(current['id'])}"
            self.admin.put(path, {**body, "id": current["id"]})

    # -- authentication flows (idpctl.flows) -----------------------------------------------

    def flow_path(self, alias: str) -> str:
        return f"{self.r}/authentication/flows/{segment(alias)}"

    def add_step(self, parent: str, step: dict[str, Any]) -> None:
        """Add one step at the end of flow ``parent``, with its requirement, its config
        and, for a sub-flow, its own steps."""
        executions = f"{self.flow_path(parent)}/executions"
        if "flow" in step:
            body = {
                "alias": step["flow"],
                "description": step["description"],
                "type": "basic-flow",
                "provider": "registration-page-form",
            }
            self.admin.post(f"{executions}/flow", body)
        else:
            self.admin.post(f"{executions}/execution", {"provider": step["authenticator"]})
        added = max(
            (e for e in self.admin.get(executions) if e.get("level", 0) == 0),
            key=lambda e: e.get("index", 0),
        )
        if added.get("requirement") != step["requirement"]:
            self.admin.put(executions, {**added, "requirement": step["requirement"]})
        if step.get("config"):
            alias = flows.config_alias(parent, step["authenticator"], added.get("index", 0))
            self.admin.post(
                f"{self.r}/authentication/executions/{segment(added['id'])}/config",
                {"alias": alias, "config": step["config"]},
            )
        for sub in step.get("executions", []):
            self.add_step(step["flow"], sub)

    def _authentication_flows(self, change: Change) -> None:
        flows_path = f"{self.r}/authentication/flows"
        current = next(
            (f for f in self.admin.get(flows_path) if f.get("alias") == change.name), None
        )
        if change.action == "delete":
            if current is not None:
                self.admin.delete(f"{flows_path}/{segment(current['id'])}")
            return
        want = self.d.authentication_flows[change.name]
        body = {
            "alias": change.name,
            "description": want["description"],
            "providerId": "basic-flow",
            "topLevel": True,
            "builtIn": False,
        }
        if current is None:
            self.admin.post(flows_path, body)
        elif current.get("description", "") != want["description"]:
            self.admin.put(f"{flows_path}/{segment(current['id'])}", {**body, "id": current["id"]})
        executions = self.admin.get(f"{self.flow_path(change.name)}/executions")
        configs = {
            e["authenticationConfig"]: self.admin.get(
                f"{self.r}/authentication/config/{segment(e['authenticationConfig'])}"
            )
            for e in executions
            if e.get("authenticationConfig")
        }
        if flows.from_executions(executions, configs) == want["_executions"]:
            return
        for execution in executions:  # a top-level step's removal removes its sub-flow
            if execution.get("level", 0) == 0:
                self.admin.delete(f"{self.r}/authentication/executions/{segment(execution['id'])}")
        for step in want["_executions"]:
            self.add_step(change.name, step)

    def _flow_bindings(self, change: Change) -> None:
        want = {k: self.d.settings[k] for k in flows.BINDINGS if self.d.settings.get(k) is not None}
        deleting = self.managed_flows - set(self.d.authentication_flows)
        live = self.admin.get(self.r)
        for key, builtin in flows.BINDINGS.items():
            if key not in want and live.get(key) in deleting:
                want[key] = builtin  # it names a flow idpctl deletes next
        self.admin.put(self.r, want)

    def _user_profile(self, change: Change) -> None:
        path = f"{self.r}/users/profile"
        self.admin.put(path, profile.merged(self.admin.get(path), self.d.user_profile or {}))

    # -- the whole plan --------------------------------------------------------------------

    def apply(
        self, changes: list[Change], live: Live, report: Callable[[str], None] = print
    ) -> None:
        managed = {kind: set(names) for kind, names in live.managed.items()}
        self.managed_flows = set(live.managed["authentication_flows"])
        untouched = {(c.kind, c.name) for c in changes}
        for kind in KINDS:  # desired objects that already match are adopted as managed
            managed[kind] |= {
                n
                for n in getattr(self.d, kind)
                if (kind, n) not in untouched and n in getattr(live, kind)
            }
        done: list[Change] = []
        try:
            for change in changes:
                try:
                    self.run(change)
                except AdminError as e:
                    pending = changes[len(done) + 1 :]
                    raise ApplyError(
                        f"FAILED {str(change).strip()}\n  {e}\n"
                        f"Applied {len(done)} of {len(changes)} changes"
                        + "".join(f"\n  done: {str(c).splitlines()[0].strip()}" for c in done)
                        + "".join(
                            f"\n  not applied: {str(c).splitlines()[0].strip()}" for c in pending
                        )
                        + "\nFix the cause and apply again: it continues from the live state."
                    ) from None
                done.append(change)
                report(f"  applied: {str(change).splitlines()[0].strip()}")
                if change.kind in KINDS:
                    if change.action == "delete":
                        managed[change.kind].discard(change.name)
                    else:
                        managed[change.kind].add(change.name)
        finally:
            if done or live.exists:
                self._record(managed)

    def _record(self, managed: dict[str, set[str]]) -> None:
        value = json.dumps({k: sorted(v) for k, v in managed.items()}, sort_keys=True)
        current = self.admin.get(self.r).get("attributes") or {}
        if current.get(TRACKING_ATTRIBUTE) != value:
            self.admin.put(self.r, {"attributes": {**current, TRACKING_ATTRIBUTE: value}})
