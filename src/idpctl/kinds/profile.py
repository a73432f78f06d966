"""The realm's user profile rules: idp/realms/<realm>/user-profile.yml.

Its ``attributes:`` entries are merged by name into Keycloak's user profile (mappings
merge key by key, like templates; other values replace Keycloak's; ``null`` removes a key,
as in a JSON merge patch): only what the file says is compared and applied, Keycloak's
other attributes and validators stay as they are.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.diff import Change, field_changes
from idpctl.kinds.base import Kind, Source
from idpctl.templates import deep_merge

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.live import Live
    from idpctl.model import Desired

FILE = "user-profile.yml"
ATTRIBUTE = fields._schema(
    S="name displayName group",
    B="multivalued",
    M="validations annotations required permissions selector",
)


def check_validators(
    attribute: dict[str, Any], file: str, what: str, problems: list[Problem]
) -> None:
    """Each validator's options are a mapping; a pattern must compile."""
    for name, options in (attribute.get("validations") or {}).items():
        if not isinstance(options, dict):
            problems.append(
                Problem(
                    file,
                    what,
                    f"validations.{name} must map the validator's options, got {options!r}",
                )
            )
            continue
        pattern = options.get("pattern")
        if name == "pattern":
            if not isinstance(pattern, str) or not pattern:
                problems.append(
                    Problem(
                        file,
                        what,
                        "validations.pattern.pattern is required: the regular expression a "
                        f"value must match, got {pattern!r}",
                    )
                )
            else:
                try:
                    re.compile(pattern)
                except re.error as e:
                    problems.append(
                        Problem(
                            file,
                            what,
                            f"validations.pattern.pattern is not a regular expression ({e})",
                        )
                    )
            if not options.get("error-message"):
                problems.append(
                    Problem(
                        file,
                        what,
                        "validations.pattern needs an error-message that says the rule "
                        "(it is shown on the registration page)",
                    )
                )


def read_file(realm_dir: Path, problems: list[Problem], load: Any) -> dict[str, dict] | None:
    """The file's attributes by name; None when there is no file."""
    path = realm_dir / FILE
    if not path.exists() and not path.is_symlink():
        return None
    file = str(path)
    data = load(path, dict)
    for key in sorted(set(map(str, data)) - {"attributes"}):
        problems.append(Problem(file, "user profile", f"unknown key {key!r} (known: attributes)"))
    attributes = data.get("attributes") or []
    if not isinstance(attributes, list):
        problems.append(Problem(file, "user profile", "attributes must be a list of attributes"))
        return {}
    found: dict[str, dict[str, Any]] = {}
    for i, attribute in enumerate(attributes):
        if not isinstance(attribute, dict) or not fields.is_name(attribute.get("name")):
            problems.append(
                Problem(file, "user profile", f"attributes[{i}] needs a name, got {attribute!r}")
            )
            continue
        what = f"user profile attribute {attribute['name']}"
        if not fields.check(attribute, ATTRIBUTE, file, what, problems):
            continue
        check_validators(attribute, file, what, problems)
        if attribute["name"] in found:
            problems.append(Problem(file, what, f"duplicate attribute {attribute['name']!r}"))
        found[attribute["name"]] = attribute
    return found


def patched(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in as a JSON merge patch (RFC 7386): mappings merge key
    by key, ``null`` removes the key (e.g. ``required: null``: no longer required)."""
    result = deep_merge(base, {k: v for k, v in patch.items() if not isinstance(v, dict)})
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            inner = result.get(key) if isinstance(result.get(key), dict) else {}
            result[key] = patched(inner, value)
    return result


def removed_keys(base: dict[str, Any], patch: dict[str, Any], prefix: str = "") -> list[str]:
    """The keys of ``base`` that ``patch`` removes (its ``null`` values), as dotted paths."""
    found = []
    for key, value in patch.items():
        if value is None and key in base:
            found.append(f"{prefix}{key}")
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            found += removed_keys(base[key], value, f"{prefix}{key}.")
    return found


def merged(config: dict[str, Any], want: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Keycloak's user profile ``config`` with the file's attributes merged in by name
    (``patched``; a new name is added at the end)."""
    attributes = list(config.get("attributes") or [])
    index = {a.get("name"): i for i, a in enumerate(attributes)}
    for name, attribute in want.items():
        if name in index:
            attributes[index[name]] = patched(attributes[index[name]], attribute)
        else:
            attributes.append(patched({}, attribute))
    return {**config, "attributes": attributes}


def profile_changes(want: dict[str, dict[str, Any]] | None, have: dict[str, Any]) -> list[str]:
    """The file's user profile attributes that Keycloak's user profile does not say."""
    current = {a.get("name"): a for a in have.get("attributes") or []}
    out = []
    for name, attribute in (want or {}).items():
        if name not in current:
            out.append(f"attribute: + {name}")
        else:
            out += [f"attribute {name}: {d}" for d in field_changes(attribute, current[name])]
            removed = removed_keys(current[name], attribute)
            out += [f"attribute {name}: - {key}" for key in removed]
    return out


class UserProfile(Kind):
    """``user_profile``: the file's attributes by name; None: there is no file (Keycloak's
    user profile is then neither read nor changed)."""

    name = "user_profile"
    labels = {"user_profile": "user profile"}
    state = True

    def empty_desired(self) -> Any:
        return None

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        def load(path: Path, kind: type) -> Any:
            return files.load(path, source.variables, problems, kind)

        desired.user_profile = read_file(source.realm_dir, problems, load)

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        if desired.user_profile is not None:
            live.user_profile = admin.get(f"/{realm}/users/profile")

    def changes(self, desired: Desired, live: Live) -> list[Change]:
        details = profile_changes(desired.user_profile, live.user_profile)
        if details:
            return [Change("user_profile", "update", desired.realm, details)]
        return []

    def apply(self, applier: Applier, change: Change) -> None:
        path = f"{applier.r}/users/profile"
        applier.admin.put(path, merged(applier.admin.get(path), applier.d.user_profile or {}))


KIND = UserProfile()
