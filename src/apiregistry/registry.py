"""The protected-API registry (idp/apis.yml): audiences, scopes, gate roles and groups.

Read by idpctl (to derive Keycloak objects) and by the hub's broker (as its allowlist).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apiregistry.problems import ConfigError, Problem
from apiregistry.yamlfile import read_yaml
from tokencontract.files import FILE_NAME

API_KEYS = {"realm", "requester", "description", "scopes", "token_files"}
SCOPE_KEYS = {"description", "role", "groups", "jobs"}
JOBS_KEYS = {"allowed", "max_days"}
#: The longest a job grant may last, whatever a scope allows (Keycloak's default Offline
#: Session Idle is 30 days; a grant that outlived it would end without warning).
MAX_JOB_DAYS = 30
#: The client that asks for an API's tokens by token exchange, unless the API names others
#: (``requester:``, a client or a list): the hub's token broker's client
#: (idp/templates/clients/jupyterhub-exchange.yml).
DEFAULT_REQUESTER = "jupyterhub-exchange"
#: The client that holds job grants (Keycloak offline sessions, one per grant) and mints the
#: tokens of unattended work by refresh, narrowed to one API's scopes: it asks for the scopes
#: whose ``jobs:`` policy allows them, and nothing else
#: (idp/templates/clients/jupyterhub-jobs.yml; docs/jobs.md).
JOBS_CLIENT = "jupyterhub-jobs"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")


@dataclass(frozen=True)
class JobsPolicy:
    """Whether a scope may be granted to unattended work (a job grant), and for how many
    days at most. The default: not allowed."""

    allowed: bool = False
    max_days: int = 0


@dataclass(frozen=True)
class ScopeSpec:
    name: str
    description: str
    role: str
    groups: tuple[str, ...]
    jobs: JobsPolicy = JobsPolicy()


@dataclass(frozen=True)
class ApiSpec:
    name: str
    realm: str
    #: The clients that ask for the API's scopes (each gets them as optional client scopes).
    requesters: tuple[str, ...]
    description: str
    scopes: dict[str, ScopeSpec]
    #: Token files every user's server keeps fresh: file name -> the scopes of its token.
    token_files: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def job_scopes(self) -> dict[str, ScopeSpec]:
        """The scopes a job grant may hold (their ``jobs:`` policy allows it)."""
        return {name: scope for name, scope in self.scopes.items() if scope.jobs.allowed}


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


def is_file_name(value: Any) -> bool:
    """A token file's name: letters, digits, . _ - (one path segment, not hidden)."""
    return isinstance(value, str) and FILE_NAME.fullmatch(value) is not None


def _token_files(
    raw: Any, scopes: dict[str, ScopeSpec], file: str, where: str, problems: list[Problem]
) -> dict[str, tuple[str, ...]]:
    """``token_files:`` of an API: ``{file name: [scope, ...]}``, each scope the API's own."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(file, where, "token_files must map file names to lists of scopes"))
        return {}
    files: dict[str, tuple[str, ...]] = {}
    for name, wanted in raw.items():
        fwhere = f"{where}, token file {name}"
        if not is_file_name(name):
            problems.append(Problem(file, fwhere, "the file name may use letters, digits, . _ -"))
            continue
        if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
            problems.append(Problem(file, fwhere, "expected a list of scope names"))
            continue
        unknown = [s for s in wanted if s not in scopes]
        if unknown:
            problems.append(
                Problem(
                    file,
                    fwhere,
                    f"scope {unknown[0]!r} is not one of this API's scopes {sorted(scopes)}",
                )
            )
            continue
        files[str(name)] = tuple(wanted)
    return files


def _registry_apis(data: Any, file: str, problems: list[Problem]) -> dict[Any, Any]:
    """The file's ``apis:`` mapping (empty if absent); a file of another shape is refused at
    once (ConfigError); unknown top-level keys are problems."""
    if not isinstance(data, dict) or not isinstance(data.get("apis", {}), dict):
        raise ConfigError([Problem(file, "file", 'expected a mapping with key "apis"')])
    for key in _unknown(data, {"apis"}):
        problems.append(Problem(file, "file", f"unknown key {key} (known: ['apis'])"))
    return data.get("apis") or {}


def _check_api_name_and_realm(
    name: Any, spec: dict[Any, Any], file: str, where: str, problems: list[Problem]
) -> None:
    """An API's keys, its name, and its realm (required, a realm folder's name)."""
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


def _requesters(spec: dict[Any, Any], file: str, where: str, problems: list[Problem]) -> list[Any]:
    """``requester:`` of an API as a list: absent, the default; a name, a list of one."""
    requesters = spec.get("requester")
    if requesters is None:
        requesters = [DEFAULT_REQUESTER]
    elif isinstance(requesters, str):
        requesters = [requesters]
    if not isinstance(requesters, list) or not requesters:
        requesters = [requesters]
    for requester in requesters:
        if not is_object_name(requester):
            problems.append(
                Problem(
                    file,
                    where,
                    "requester must be a client's name or a list of them, "
                    f"got {spec['requester']!r}",
                )
            )
            break
    return requesters


def _check_role(rule: dict[Any, Any], file: str, swhere: str, problems: list[Problem]) -> None:
    """A scope's ``role:``: required, a realm role's name."""
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


def _jobs(raw: Any, file: str, swhere: str, problems: list[Problem]) -> JobsPolicy:
    """A scope's ``jobs:`` policy: ``{allowed: true, max_days: N}`` (1 <= N <= MAX_JOB_DAYS)
    or ``{allowed: false}``; absent, not allowed."""
    if raw is None:
        return JobsPolicy()
    fix = f"write jobs: {{allowed: true, max_days: 1..{MAX_JOB_DAYS}}} or jobs: {{allowed: false}}"
    if not isinstance(raw, dict):
        problems.append(Problem(file, f"{swhere}, jobs", f"expected a mapping: {fix}"))
        return JobsPolicy()
    where = f"{swhere}, jobs"
    for key in _unknown(raw, JOBS_KEYS):
        problems.append(Problem(file, where, f"unknown key {key} (known: {sorted(JOBS_KEYS)})"))
    allowed, days = raw.get("allowed"), raw.get("max_days")
    if not isinstance(allowed, bool):
        problems.append(Problem(file, where, f"allowed must be true or false, got {allowed!r}"))
        return JobsPolicy()
    if not allowed:
        if days is not None:
            problems.append(Problem(file, where, "max_days applies only when allowed is true"))
        return JobsPolicy()
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_JOB_DAYS:
        problems.append(
            Problem(
                file,
                where,
                f"max_days must be a whole number of days from 1 to {MAX_JOB_DAYS} "
                f"(how long a job grant may last), got {days!r}",
            )
        )
        return JobsPolicy()
    return JobsPolicy(allowed=True, max_days=days)


def _scope(
    scope: Any, rule: Any, file: str, where: str, problems: list[Problem]
) -> ScopeSpec | None:
    """One scope of an API (None if its rule is not a mapping)."""
    swhere = f"{where}, scope {scope}"
    rule = rule or {}
    if not isinstance(rule, dict):
        problems.append(Problem(file, swhere, "expected a mapping"))
        return None
    for key in _unknown(rule, SCOPE_KEYS):
        problems.append(Problem(file, swhere, f"unknown key {key}"))
    if not is_name(scope):
        problems.append(Problem(file, swhere, "the name may use letters, digits, : . _ -"))
    _check_role(rule, file, swhere, problems)
    if rule.get("description") is not None and not isinstance(rule["description"], str):
        problems.append(Problem(file, swhere, "description must be a string"))
    groups = rule.get("groups") or []
    if not isinstance(groups, list) or not all(is_object_name(g) for g in groups):
        problems.append(Problem(file, swhere, "groups must be a list of group names"))
        groups = []
    return ScopeSpec(
        str(scope),
        str(rule.get("description") or ""),
        str(rule.get("role") or ""),
        tuple(str(g) for g in groups),
        _jobs(rule.get("jobs"), file, swhere, problems),
    )


def _scopes(raw: Any, file: str, where: str, problems: list[Problem]) -> dict[str, ScopeSpec]:
    """``scopes:`` of an API: at least one, each checked."""
    raw_scopes = raw or {}
    if not isinstance(raw_scopes, dict) or not raw_scopes:
        problems.append(Problem(file, where, "scopes must map at least one scope name"))
        raw_scopes = {}
    scopes: dict[str, ScopeSpec] = {}
    for scope, rule in raw_scopes.items():
        spec = _scope(scope, rule, file, where, problems)
        if spec is not None:
            scopes[str(scope)] = spec
    return scopes


def _api(name: Any, spec: Any, file: str, problems: list[Problem]) -> ApiSpec | None:
    """One API of the registry (None if its entry is not a mapping)."""
    where = f"api {name}"
    if not isinstance(spec, dict):
        problems.append(Problem(file, where, "expected a mapping"))
        return None
    _check_api_name_and_realm(name, spec, file, where, problems)
    requesters = _requesters(spec, file, where, problems)
    if spec.get("description") is not None and not isinstance(spec["description"], str):
        problems.append(Problem(file, where, "description must be a string"))
    scopes = _scopes(spec.get("scopes"), file, where, problems)
    return ApiSpec(
        name=str(name),
        realm=str(spec.get("realm") or ""),
        requesters=tuple(str(r) for r in requesters),
        description=str(spec.get("description") or ""),
        scopes=scopes,
        token_files=_token_files(spec.get("token_files"), scopes, file, where, problems),
    )


def _check_one_api_per_name_in_realm(
    apis: dict[str, ApiSpec], file: str, problems: list[Problem]
) -> None:
    """A scope, and a token file, belongs to one API of its realm."""
    for kind, names_of, verb in (
        ("scope", lambda api: api.scopes, "defined"),
        ("token file", lambda api: api.token_files, "kept"),
    ):
        seen: dict[tuple[str, str], str] = {}
        for api in apis.values():
            for name in names_of(api):
                key = (api.realm, name)
                if key in seen:
                    problems.append(
                        Problem(
                            file,
                            f"api {api.name}, {kind} {name}",
                            f"also {verb} by api {seen[key]} in realm {api.realm}",
                        )
                    )
                seen[key] = api.name


def load_registry(path: Path) -> dict[str, ApiSpec]:
    """Parse and check the registry; raises ConfigError listing every problem."""
    data = read_yaml(path) or {}
    problems: list[Problem] = []
    file = str(path)
    apis: dict[str, ApiSpec] = {}
    for name, spec in _registry_apis(data, file, problems).items():
        api = _api(name, spec, file, problems)
        if api is not None:
            apis[str(name)] = api
    _check_one_api_per_name_in_realm(apis, file, problems)
    if problems:
        raise ConfigError(problems)
    return apis


def apis_of_realm(apis: dict[str, ApiSpec], realm: str) -> dict[str, ApiSpec]:
    """The APIs whose tokens are minted in ``realm`` (a hub serves one realm)."""
    return {name: api for name, api in apis.items() if api.realm == realm}
