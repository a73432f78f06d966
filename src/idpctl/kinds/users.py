"""Users: idp/realms/<realm>/users.yml (the demo users), with the groups they belong to;
read only where asked for (IDP_DEMO_USERS): a deployment creates none, and removes those an
earlier apply created."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import segment
from idpctl.diff import public_fields, set_changes
from idpctl.kinds.base import ObjectKind, Source
from stackconf import settings as conf

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.diff import Change
    from idpctl.live import Live
    from idpctl.model import Desired


def read_users(
    desired: Desired, realm_dir: Path, variables: dict[str, str], problems: list[Problem]
) -> None:
    file = realm_dir / "users.yml"
    for user in files.load(file, variables, problems, list):
        if isinstance(user, dict):
            what = f"user {user.get('username')}"
            fields.check(user, fields.USER, str(file), what, problems)
            groups = files.names(user, "groups", str(file), what, problems) or []
            user["_groups"] = [g.lstrip("/") for g in groups]
        files.add_object(desired.users, "username", user, str(file), "user", problems)


class Users(ObjectKind):
    name = "users"
    labels = {"users": "user"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        if conf.get_bool("IDP_DEMO_USERS", source.variables):
            read_users(desired, source.realm_dir, source.variables, problems)

    def check(self, desired: Desired) -> list[Problem]:
        problems: list[Problem] = []
        for name, user in desired.users.items():
            for group in user["_groups"]:
                if group not in desired.groups:
                    groups_file = Path(user["_file"]).with_name("groups.yml")
                    problems.append(
                        Problem(
                            user["_file"],
                            f"user {name}",
                            f"group {group!r} is not defined in {groups_file}",
                        )
                    )
        return problems

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        """The users the files or the tracking record name (a realm may have many)."""
        for username in sorted(set(desired.users) | live.managed["users"]):
            found = admin.get(f"/{realm}/users", username=username, exact="true")
            if found:
                user = found[0]
                user["_groups"] = sorted(
                    g["name"] for g in admin.get(f"/{realm}/users/{segment(user['id'])}/groups")
                )
                live.users[username] = user

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return set_changes("groups", want["_groups"], have.get("_groups", []))

    def apply(self, applier: Applier, change: Change) -> None:
        admin, r = applier.admin, applier.r
        if change.action == "create":
            want = applier.d.users[change.name]
            body = {k: v for k, v in want.items() if not k.startswith("_")}
            admin.post(f"{r}/users", body)
        uid = admin.find_id(applier.d.realm, "users", change.name)
        base = f"{r}/users/{segment(uid)}"
        if change.action == "delete":
            admin.delete(base)
            return
        want = applier.d.users[change.name]
        if change.action == "update":
            admin.put(base, public_fields(want))
        have = {g["name"]: g["id"] for g in admin.get(f"{base}/groups")}
        for name in sorted(set(have) - set(want["_groups"])):
            admin.delete(f"{base}/groups/{segment(have[name])}")
        for name in sorted(set(want["_groups"]) - set(have)):
            gid = admin.find_id(applier.d.realm, "groups", name)
            admin.put(f"{base}/groups/{segment(gid)}")


KIND = Users()
