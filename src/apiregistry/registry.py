"""The protected-API registry (idp/apis.yml): audiences, scopes, gate roles and groups.

Read by idpctl (to derive Keycloak objects) and by the hub's broker (as its allowlist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apiregistry.problems import ConfigError, Problem
from apiregistry.yamlfile import read_yaml

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


def _text(value: Any) -> bool:
    """A string without control characters (a name: one line, no tab, no NUL)."""
    return isinstance(value, str) and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def _unknown(keys: Any, known: set[str]) -> list[str]:
    """The unknown keys of a mapping, sorted whatever their YAML types (1, null, true...)."""
    return sorted((repr(k) for k in keys if k not in known), key=str)


def is_name(value: Any) -> bool:
    """An API or scope name: letters, digits, : . _ - (it goes into tokens and URLs)."""
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def is_object_name(value: Any) -> bool:
    """A Keycloak object's name (role, group): any text but control characters, not empty,
    and not . or .. (a path segment that would name another object)."""
    return _text(value) and value.strip() != "" and value not in (".", "..")


def load_registry(path: Path) -> dict[str, ApiSpec]:
    """Parse and check the registry; raises ConfigError listing every problem."""
    data = read_yaml(path) or {}
    problems: list[Problem] = []
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("apis", {}), dict):
        raise ConfigError([Problem(file, "file", 'expected a mapping with key "apis"')])
    for key in _unknown(data, {"apis"}):
        problems.append(Problem(file, "file", f"unknown key {key} (known: ['apis'])"))
    apis: dict[str, ApiSpec] = {}
    for name, spec in (data.get("apis") or {}).items():
        where = f"api {name}"
        if not isinstance(spec, dict):
            problems.append(Problem(file, where, "expected a mapping"))
            continue
        for key in _unknown(spec, API_KEYS):
            problems.append(Problem(file, where, f"unknown key {key} (known: {sorted(API_KEYS)})"))
        if not is_name(name):
            problems.append(Problem(file, where, "the name may use letters, digits, : . _ -"))
        if not spec.get("realm"):
            problems.append(Problem(file, where, "realm is required"))
        elif not is_name(spec["realm"]):
            problems.append(
                Problem(file, where, f"realm must be a realm folder's name, got {spec['realm']!r}")
            )
        if spec.get("requester") is not None and not is_object_name(spec["requester"]):
            problems.append(
                Problem(
                    file, where, f"requester must be a client's name, got {spec['requester']!r}"
                )
            )
        if spec.get("description") is not None and not isinstance(spec["description"], str):
            problems.append(Problem(file, where, "description must be a string"))
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
            for key in _unknown(rule, SCOPE_KEYS):
                problems.append(Problem(file, swhere, f"unknown key {key}"))
            if not is_name(scope):
                problems.append(Problem(file, swhere, "the name may use letters, digits, : . _ -"))
            if not rule.get("role"):
                problems.append(
                    Problem(file, swhere, "role is required (the realm role that gates the scope)")
                )
            elif not is_object_name(rule["role"]):
                problems.append(
                    Problem(
                        file,
                        swhere,
                        "role must be a realm role's name (text on one line, not . or ..), "
                        f"got {rule['role']!r}",
                    )
                )
            if rule.get("description") is not None and not isinstance(rule["description"], str):
                problems.append(Problem(file, swhere, "description must be a string"))
            groups = rule.get("groups") or []
            if not isinstance(groups, list) or not all(is_object_name(g) for g in groups):
                problems.append(Problem(file, swhere, "groups must be a list of group names"))
                groups = []
            scopes[str(scope)] = ScopeSpec(
                str(scope),
                str(rule.get("description") or ""),
                str(rule.get("role") or ""),
                tuple(str(g) for g in groups),
            )
        apis[str(name)] = ApiSpec(
            name=str(name),
            realm=str(spec.get("realm") or ""),
            requester=str(spec.get("requester") or DEFAULT_REQUESTER),
            description=str(spec.get("description") or ""),
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
