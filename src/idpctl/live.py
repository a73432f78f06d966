"""What a realm looks like in Keycloak now, in the same shape as the desired state: each kind
reads its own objects (idpctl.kinds), in the registry's order."""

from __future__ import annotations

from dataclasses import field, make_dataclass
from typing import Any

from idpctl.admin import KeycloakAdmin, segment
from idpctl.kinds import KINDS, STATE, TRACKED
from idpctl.kinds import realm as realm_kind
from idpctl.kinds.realm import TRACKING_ATTRIBUTE

Live = make_dataclass(
    "Live",
    [
        ("exists", bool),
        ("settings", dict[str, Any], field(default_factory=dict)),
        *((kind.name, Any, field(default_factory=kind.empty_live)) for kind in STATE),
        (
            "managed",
            dict[str, set[str]],
            field(default_factory=lambda: {k: set() for k in TRACKED}),
        ),
    ],
    namespace={
        "__module__": __name__,
        "__doc__": """A realm in Keycloak (``exists``), its settings, its objects by kind (as
    idpctl.model.Desired) and ``managed``: the names idpctl recorded as its own, by tracked
    kind.""",
    },
)


def managed_names(raw: str, realm: str) -> dict[str, set[str]]:
    """The names idpctl recorded as managed in the realm's tracking attribute."""
    return realm_kind.managed_names(raw, realm, TRACKED)


def fetch(admin: KeycloakAdmin, desired: Any) -> Any:
    realm = segment(desired.realm)
    if not admin.exists(f"/{realm}"):
        return Live(exists=False)
    live = Live(exists=True)
    for kind in KINDS:
        kind.fetch(admin, realm, desired, live)
    return live


__all__ = ["TRACKED", "TRACKING_ATTRIBUTE", "Live", "fetch", "managed_names"]
