"""Carry out a plan through the admin API, in the plan's order (each change by the kind that
owns it, idpctl.kinds), and record what is managed. The sub-resources several kinds share
(protocol mappers, realm role mappings) are synced here."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from idpctl.admin import AdminError, KeycloakAdmin, segment
from idpctl.diff import Change, public_fields, same
from idpctl.kinds import OWNERS, TRACKED
from idpctl.kinds.realm import TRACKING_ATTRIBUTE


class ApplyError(Exception):
    """Some changes were applied and one failed: the message says which."""


class Applier:
    def __init__(self, admin: KeycloakAdmin, desired: Any) -> None:
        self.admin = admin
        self.d = desired
        self.r = f"/{segment(desired.realm)}"
        #: The names idpctl managed before this apply, by kind (a realm setting naming a
        #: flow it deletes goes back to the built-in flow).
        self.managed_before: dict[str, set[str]] = {}

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

    def upsert(self, change: Change, collection: str, want_all: dict[str, Any]) -> str | None:
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

    # -- one change, and the whole plan ----------------------------------------------------

    def run(self, change: Change) -> None:
        OWNERS[change.kind].apply(self, change)

    def apply(
        self, changes: list[Change], live: Any, report: Callable[[str], None] = print
    ) -> None:
        managed = {kind: set(names) for kind, names in live.managed.items()}
        self.managed_before = {kind: set(names) for kind, names in live.managed.items()}
        untouched = {(c.kind, c.name) for c in changes}
        for kind in TRACKED:  # desired objects that already match are adopted as managed
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
                if change.kind in TRACKED:
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
