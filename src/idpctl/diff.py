"""Comparing a file's object with Keycloak's: one change per object, with detail lines
readable by a person (and never a secret)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Fields compared only when the object is created (Keycloak never returns them as sent).
CREATE_ONLY = {"credentials"}


@dataclass
class Change:
    kind: str  # a kind's name, or another change its kind makes (idpctl.kinds.LABELS)
    action: str  # create | update | delete
    name: str
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        from idpctl.kinds import LABELS  # the kinds make changes: imported when shown

        mark = {"create": "+", "update": "~", "delete": "-"}[self.action]
        head = f"  {mark} {LABELS[self.kind]} {self.name}"
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
    bearer-only (idpctl.kinds.clients reads it only then)."""
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


def role_names(roles: list[dict[str, Any]]) -> list[str]:
    """The sorted names of Keycloak's role representations (a role mapping)."""
    return sorted(r["name"] for r in roles)
