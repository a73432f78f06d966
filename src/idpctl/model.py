"""The desired state of one realm: its files in idp/realms/<realm>/ plus what the API
registry derives, with ${VAR} placeholders resolved. Each kind reads its own files
(idpctl.kinds); this module reads them all, in the registry's reading order."""

from __future__ import annotations

from dataclasses import field, make_dataclass
from pathlib import Path
from typing import Any

from apiregistry import ApiSpec, ConfigError, Problem
from idpctl.kinds import CHECK_ORDER, READ_ORDER, STATE, Source
from idpctl.kinds.client_scopes import BUILTIN_SCOPES
from idpctl.kinds.clients import BUILTIN_CLIENTS
from idpctl.kinds.realm import MANAGED_MARK, TRACKING_ATTRIBUTE
from idpctl.kinds.roles import builtin_roles

Desired = make_dataclass(
    "Desired",
    [
        ("realm", str),
        ("settings", dict[str, Any]),
        *((kind.name, Any, field(default_factory=kind.empty_desired)) for kind in STATE),
    ],
    namespace={
        "__module__": __name__,
        "__doc__": """Objects keyed by their name (clientId, scope name, role name, group name,
    username), one attribute per kind of idpctl.kinds. Sub-resources live under keys
    starting with ``_`` and are applied through their own endpoints: ``_protocolMappers``,
    ``_defaultScopes``, ``_optionalScopes``, ``_roles``, ``_groups``. ``default_groups`` are
    realm.yml's defaultGroups (by group name), ``admin_permissions`` come from
    admin-permissions.yml, ``authentication_flows`` from authentication-flows/,
    ``user_profile`` (attributes by name; None: no file) from user-profile.yml.""",
    },
)


def read_realm_files(source: Source, problems: list[Problem]) -> Any:
    """Everything idp/realms/<realm>/ defines, and what the API registry derives in it, with
    ${VAR} resolved."""
    desired = Desired(realm=source.realm_dir.name, settings={})
    for kind in READ_ORDER:
        kind.read(desired, source, problems)
    return desired


def load_realm(
    realm_dir: Path,
    apis: dict[str, ApiSpec],
    variables: dict[str, str],
    registry_file: str = "idp/apis.yml",
) -> Any:
    """Read one realm folder and derive the API objects; raises ConfigError."""
    problems: list[Problem] = []
    desired = read_realm_files(Source(realm_dir, variables, apis, registry_file), problems)
    problems += cross_check(desired)
    if problems:
        raise ConfigError(problems)
    return desired


def cross_check(d: Any) -> list[Problem]:
    """References between objects, and values Keycloak would reject or misuse."""
    problems: list[Problem] = []
    for kind in CHECK_ORDER:
        problems += kind.check(d)
    return problems


__all__ = [
    "BUILTIN_CLIENTS",
    "BUILTIN_SCOPES",
    "MANAGED_MARK",
    "TRACKING_ATTRIBUTE",
    "Desired",
    "builtin_roles",
    "cross_check",
    "load_realm",
    "read_realm_files",
]
