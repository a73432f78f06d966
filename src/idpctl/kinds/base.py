"""What a kind of Keycloak object is to idpctl: how it is read from idp/, checked against the
other kinds, read from Keycloak, compared (plan) and applied. Each module of idpctl.kinds
holds one kind; idpctl.kinds registers them all, once, in apply order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import ApiSpec, Problem
from idpctl.diff import Change, field_changes, mapper_changes

if TYPE_CHECKING:
    from idpctl.admin import KeycloakAdmin
    from idpctl.apply import Applier
    from idpctl.live import Live
    from idpctl.model import Desired


@dataclass
class Source:
    """Where a realm's desired state comes from: its folder in idp/realms/, the ${VAR}
    values, and the API registry (its file, for problems)."""

    realm_dir: Path
    variables: dict[str, str]
    apis: dict[str, ApiSpec]
    registry_file: str


class Kind:
    """A kind with nothing to do; each kind overrides what it has."""

    #: Its attribute of Desired and Live (when ``state``) and the kind of its changes.
    name = ""
    #: How a plan shows its changes, by Change.kind (a kind may make changes of more kinds).
    labels: dict[str, str] = {}
    #: Desired and Live hold its objects in an attribute ``name``.
    state = False
    #: idpctl records the names it manages in the realm, and deletes those no file names.
    tracked = False
    #: Names idpctl never deletes (objects every realm has).
    protected: set[str] | frozenset[str] = frozenset()

    def empty_desired(self) -> Any:
        return {}

    def empty_live(self) -> Any:
        return {}

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        """Add what idp/ defines of this kind to ``desired``."""

    def check(self, desired: Desired) -> list[Problem]:
        """Its references to objects of other kinds, once every kind is read."""
        return []

    def fetch(self, admin: KeycloakAdmin, realm: str, desired: Desired, live: Live) -> None:
        """Add what Keycloak has of this kind to ``live`` (``realm``: a path segment)."""

    def changes(self, desired: Desired, live: Live) -> list[Change]:
        """The creates and updates a plan shows."""
        return []

    def deletes(self, desired: Desired, live: Live) -> list[Change]:
        """The deletes a plan shows: managed objects no file names any more."""
        if not self.tracked:
            return []
        return [
            Change(self.name, "delete", name)
            for name in sorted(live.managed[self.name] - set(getattr(desired, self.name)))
            if name in getattr(live, self.name) and name not in self.protected
        ]

    def apply(self, applier: Applier, change: Change) -> None:
        raise NotImplementedError(change.kind)


class ObjectKind(Kind):
    """Objects by name (clientId, name, username): created, updated field by field and
    with their sub-resources (``details``), and deleted when idpctl manages them."""

    state = True
    tracked = True

    def changes(self, desired: Desired, live: Live) -> list[Change]:
        changes: list[Change] = []
        have_all: dict[str, dict[str, Any]] = getattr(live, self.name)
        for name, want in getattr(desired, self.name).items():
            have = have_all.get(name)
            if have is None:
                changes.append(Change(self.name, "create", name))
            else:
                details = field_changes(want, have) + self.details(want, have)
                if details:
                    changes.append(Change(self.name, "update", name, details))
        return changes

    def details(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        """The differences of its sub-resources: protocol mappers, then the kind's own."""
        out = []
        if "_protocolMappers" in want:
            out += mapper_changes(want["_protocolMappers"], have.get("_protocolMappers", []))
        return out + self.sub_changes(want, have)

    def sub_changes(self, want: dict[str, Any], have: dict[str, Any]) -> list[str]:
        return []
