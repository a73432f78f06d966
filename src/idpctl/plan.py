"""The difference between desired and live, object by object, readable by a person: each
kind's creates and updates in the registry's order (idpctl.kinds), then the deletes in
reverse."""

from __future__ import annotations

from typing import Any

from idpctl.diff import Change, same
from idpctl.kinds import KINDS


def compute(desired: Any, live: Any) -> list[Change]:
    changes = [change for kind in KINDS for change in kind.changes(desired, live)]
    deletes = [change for kind in reversed(KINDS) for change in kind.deletes(desired, live)]
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


__all__ = ["Change", "compute", "same", "summary"]
