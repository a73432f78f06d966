"""The realm itself: realm.yml's settings (but those that name a flow, applied with the
flows, and defaultGroups, a kind of their own), and the realm attribute where idpctl records
the names it manages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import Problem
from idpctl import fields, files
from idpctl.admin import AdminError
from idpctl.diff import Change, field_changes, public_fields
from idpctl.kinds import flows
from idpctl.kinds.base import Kind, Source

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.live import Live
    from idpctl.model import Desired

MANAGED_MARK = "idpctl"
#: The realm attribute where idpctl records what it manages (idpctl.live): never in a file.
TRACKING_ATTRIBUTE = "idpctl.managed"


def read_settings(realm_dir: Path, variables: dict[str, str], problems: list[Problem]) -> dict:
    """realm.yml; its ``realm`` must be the folder's name."""
    realm = realm_dir.name
    file = str(realm_dir / "realm.yml")
    settings = files.load(realm_dir / "realm.yml", variables, problems, dict)
    if settings.get("realm", realm) != realm:
        problems.append(
            Problem(
                file,
                f"realm {realm}",
                f"realm is {settings.get('realm')!r} but the folder is {realm!r}",
            )
        )
    fields.check(settings, fields.REALM, file, f"realm {realm}", problems)
    attributes = settings.get("attributes")
    if isinstance(attributes, dict) and TRACKING_ATTRIBUTE in attributes:
        problems.append(
            Problem(
                file,
                f"realm {realm}",
                f"attributes.{TRACKING_ATTRIBUTE} is idpctl's record of what it manages: "
                "remove it from the file",
            )
        )
    settings["realm"] = realm
    return settings


def report_single_files_for_folders(realm_dir: Path, problems: list[Problem]) -> None:
    """clients.yml, client-scopes.yml, roles.yml: these kinds take one file per object."""
    for name in ("clients", "client-scopes", "roles"):
        if (realm_dir / f"{name}.yml").exists():
            problems.append(
                Problem(
                    str(realm_dir / f"{name}.yml"),
                    "file",
                    f"put {name} in the folder {name}/ (one file per object)",
                )
            )


def realm_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """The realm settings sent with the realm itself: not those that name a flow (sent
    once the flows exist)."""
    return {k: v for k, v in public_fields(settings).items() if k not in flows.BINDINGS}


def managed_names(raw: str, realm: str, kinds: Iterable[str]) -> dict[str, set[str]]:
    """The names idpctl recorded as managed in the realm's tracking attribute, of ``kinds``."""
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError(record)
        return {k: {str(n) for n in v} for k, v in record.items() if k in kinds}
    except (ValueError, TypeError):
        raise AdminError(
            f"realm {realm}: its attribute {TRACKING_ATTRIBUTE} is not what idpctl wrote "
            f"({str(raw)[:80]!r}): remove the attribute in Keycloak (idpctl then manages only what "
            "the files name) and apply again"
        ) from None


class Realm(Kind):
    name = "realm"
    labels = {"realm": "realm settings"}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        desired.settings = read_settings(source.realm_dir, source.variables, problems)
        report_single_files_for_folders(source.realm_dir, problems)

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        settings = admin.get(f"/{realm}")
        settings.update(
            {k: v for k, v in admin.get(f"/{realm}/events/config").items() if k not in settings}
        )
        live.settings = settings
        raw = (settings.get("attributes") or {}).get(TRACKING_ATTRIBUTE)
        if raw:
            live.managed.update(managed_names(raw, desired.realm, live.managed))

    def changes(self, desired: Desired, live: Live) -> list[Change]:
        if not live.exists:
            return [Change("realm", "create", desired.realm)]
        details = field_changes(realm_fields(desired.settings), live.settings)
        if details:
            return [Change("realm", "update", desired.realm, details)]
        return []

    def apply(self, applier: Applier, change: Change) -> None:
        body = realm_fields(applier.d.settings)
        if change.action == "create":
            applier.admin.post("", body)
        else:
            applier.admin.put(applier.r, body)


KIND = Realm()
