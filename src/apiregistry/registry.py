"""The protected-API registry (idp/apis.yml): audiences, scopes, gate roles and groups.

Read by idpctl (to derive Keycloak objects) and by the hub's broker (as its allowlist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apiregistry.problems import ConfigError, Problem

API_KEYS = {"realm", "requester", "description", "scopes"}
SCOPE_KEYS = {"description", "role", "groups"}
#: The client that asks for an API's tokens by token exchange, unless the API names another:
#: the hub's token broker's client (idp/templates/clients/jupyterhub-exchange.yml).
DEFAULT_REQUESTER = "jupyterhub-exchange"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")


@dataclass(frozen=True)
class ScopeSpec:
    name: str
    description: str
    role: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class ApiSpec:
    name: str
    realm: str
    requester: str
    description: str
    scopes: dict[str, ScopeSpec]


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError([Problem(str(path), "file", f"not valid YAML: {e}")]) from None


def load_registry(path: Path) -> dict[str, ApiSpec]:
    """Parse and check the registry; raises ConfigError listing every problem."""
    data = read_yaml(path) or {}
    problems: list[Problem] = []
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("apis", {}), dict):
        raise ConfigError([Problem(file, "file", 'expected a mapping with key "apis"')])
    apis: dict[str, ApiSpec] = {}
    for name, spec in (data.get("apis") or {}).items():
        where = f"api {name}"
        if not isinstance(spec, dict):
            problems.append(Problem(file, where, "expected a mapping"))
            continue
        for key in sorted(set(spec) - API_KEYS):
            problems.append(
                Problem(file, where, f"unknown key {key!r} (known: {sorted(API_KEYS)})")
            )
        if not NAME.match(str(name)):
            problems.append(Problem(file, where, "the name may use letters, digits, : . _ -"))
        if not spec.get("realm"):
            problems.append(Problem(file, where, "realm is required"))
        scopes: dict[str, ScopeSpec] = {}
        raw_scopes = spec.get("scopes") or {}
        if not isinstance(raw_scopes, dict) or not raw_scopes:
            problems.append(Problem(file, where, "scopes must map at least one scope name"))
            raw_scopes = {}
        for scope, rule in raw_scopes.items():
            swhere = f"{where}, scope {scope}"
            rule = rule or {}
            if not isinstance(rule, dict):
                problems.append(Problem(file, swhere, "expected a mapping"))
                continue
            for key in sorted(set(rule) - SCOPE_KEYS):
                problems.append(Problem(file, swhere, f"unknown key {key!r}"))
            if not NAME.match(str(scope)):
                problems.append(Problem(file, swhere, "the name may use letters, digits, : . _ -"))
            if not rule.get("role"):
                problems.append(
                    Problem(file, swhere, "role is required (the realm role that gates the scope)")
                )
            groups = rule.get("groups") or []
            if not isinstance(groups, list):
                problems.append(Problem(file, swhere, "groups must be a list of group names"))
                groups = []
            scopes[str(scope)] = ScopeSpec(
                str(scope),
                str(rule.get("description", "")),
                str(rule.get("role", "")),
                tuple(str(g) for g in groups),
            )
        apis[str(name)] = ApiSpec(
            name=str(name),
            realm=str(spec.get("realm", "")),
            requester=str(spec.get("requester", DEFAULT_REQUESTER)),
            description=str(spec.get("description", "")),
            scopes=scopes,
        )
    seen: dict[str, str] = {}
    for api in apis.values():
        for scope in api.scopes:
            key = f"{api.realm}/{scope}"
            if key in seen:
                problems.append(
                    Problem(
                        file,
                        f"api {api.name}, scope {scope}",
                        f"also defined by api {seen[key]} in realm {api.realm}",
                    )
                )
            seen[key] = api.name
    if problems:
        raise ConfigError(problems)
    return apis


def apis_of_realm(apis: dict[str, ApiSpec], realm: str) -> dict[str, ApiSpec]:
    """The APIs whose tokens are minted in ``realm`` (a hub serves one realm)."""
    return {name: api for name, api in apis.items() if api.realm == realm}
