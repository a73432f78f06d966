"""Protected APIs: what each API of the registry (idp/apis.yml, apiregistry) derives in its
realm: its own client, per scope a client scope, a gate role and that role for the scope's
groups, and the scopes as optional scopes of the requester clients; the scopes whose ``jobs:``
policy allows them as optional scopes of the realm's job-grants client (JOBS_CLIENT), whose
Client Offline Session Max becomes their longest ``max_days``. Applied as those objects
(clients, client scopes, roles, groups): the kind itself has nothing in Keycloak."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiregistry import JOBS_CLIENT, ApiSpec, Problem, ScopeSpec
from idpctl import files
from idpctl.kinds.base import Kind, Source
from idpctl.kinds.client_scopes import BUILTIN_SCOPES
from idpctl.kinds.clients import BUILTIN_CLIENTS
from idpctl.kinds.roles import builtin_roles

if TYPE_CHECKING:
    from idpctl.model import Desired


def audience_mapper(api: str) -> dict[str, Any]:
    """Puts ``aud=<api>`` in the access token, also in a lightweight one (the exchange client
    issues lightweight tokens: claims only from mappers that ask for it)."""
    return {
        "name": f"audience {api}",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "consentRequired": False,
        "config": {
            "included.client.audience": api,
            "access.token.claim": "true",
            "id.token.claim": "false",
            "introspection.token.claim": "true",
            "lightweight.claim": "true",
        },
    }


def api_client(api: ApiSpec) -> dict[str, Any]:
    """The API's own client: an audience only, with no login flows."""
    return {
        "clientId": api.name,
        "name": api.name,
        "description": api.description or f"Protected API {api.name}",
        "protocol": "openid-connect",
        "publicClient": False,
        "bearerOnly": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "fullScopeAllowed": False,
        "_protocolMappers": [],
        "_defaultScopes": [],
        "_optionalScopes": [],
    }


def api_scope(api: ApiSpec, scope: ScopeSpec) -> dict[str, Any]:
    """The client scope that puts aud=<api> in a token, granted to holders of its role."""
    return {
        "name": scope.name,
        "description": scope.description or f"{api.name} scope {scope.name}",
        "protocol": "openid-connect",
        # Listed on the consent screen of the clients that ask for consent (the job-grants
        # client's): the user sees what a grant holds.
        "attributes": {
            "include.in.token.scope": "true",
            "display.on.consent.screen": "true",
            "consent.screen.text": scope.description or f"{api.name}: {scope.name}",
        },
        "_protocolMappers": [audience_mapper(api.name)],
        "_roles": [scope.role],
    }


def find_requesters(
    desired: Desired, api: ApiSpec, realm_dir: Path, registry_file: str, problems: list[Problem]
) -> list[dict[str, Any]]:
    """The clients that ask for the API's scopes, now managing their optional scopes."""
    found = []
    for name in api.requesters:
        requester = desired.clients.get(name)
        if requester is None:
            problems.append(
                Problem(
                    registry_file,
                    f"api {api.name}",
                    f"requester client {name!r} is not defined in {realm_dir / 'clients'}",
                )
            )
            continue
        if requester["_optionalScopes"] is None:
            requester["_optionalScopes"] = []
        found.append(requester)
    return found


def grant_scope_role_to_groups(
    desired: Desired,
    api: ApiSpec,
    scope: ScopeSpec,
    groups_file: Path,
    registry_file: str,
    problems: list[Problem],
) -> None:
    for group in scope.groups:
        if group not in desired.groups:
            problems.append(
                Problem(
                    registry_file,
                    f"api {api.name}, scope {scope.name}",
                    f"group {group!r} is not defined in {groups_file}",
                )
            )
        elif scope.role not in desired.groups[group]["_roles"]:
            desired.groups[group]["_roles"].append(scope.role)


def add_api_scope(
    desired: Desired,
    api: ApiSpec,
    scope: ScopeSpec,
    requesters: list[dict[str, Any]],
    realm_dir: Path,
    registry_file: str,
    problems: list[Problem],
) -> None:
    """One scope of an API: its client scope, its gate role, the role for its groups, and
    the scope as an optional scope of each requester."""
    if scope.name in BUILTIN_SCOPES:
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}, scope {scope.name}",
                "this is the name of a Keycloak built-in client scope: choose another name",
            )
        )
        return
    files.add_object(
        desired.client_scopes,
        "name",
        api_scope(api, scope),
        registry_file,
        "client scope",
        problems,
    )
    if scope.role in builtin_roles(desired.realm):
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}, scope {scope.name}",
                f"role {scope.role!r} is a Keycloak built-in role that other things grant: "
                "give the scope a role of its own",
            )
        )
    elif scope.role not in desired.roles:
        desired.roles[scope.role] = {
            "name": scope.role,
            "description": f"May obtain scope {scope.name} of {api.name}",
            "_file": registry_file,
        }
    grant_scope_role_to_groups(
        desired, api, scope, realm_dir / "groups.yml", registry_file, problems
    )
    for requester in requesters:
        if scope.name not in requester["_optionalScopes"]:
            requester["_optionalScopes"].append(scope.name)


def add_api(
    desired: Desired, api: ApiSpec, realm_dir: Path, registry_file: str, problems: list[Problem]
) -> None:
    """Every object one API of the registry derives in its realm."""
    if api.name in BUILTIN_CLIENTS:
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}",
                "this is the name of a Keycloak built-in client: choose another name",
            )
        )
        return
    requesters = find_requesters(desired, api, realm_dir, registry_file, problems)
    files.add_object(
        desired.clients, "clientId", api_client(api), registry_file, "client", problems
    )
    for scope in api.scopes.values():
        add_api_scope(desired, api, scope, requesters, realm_dir, registry_file, problems)


#: Keycloak's client attribute for Client Offline Session Max (seconds; the Advanced tab).
CLIENT_OFFLINE_MAX = "client.offline.session.max.lifespan"


def add_job_grants(
    desired: Desired,
    apis: list[ApiSpec],
    realm_dir: Path,
    registry_file: str,
    problems: list[Problem],
) -> None:
    """The scopes that job grants may hold, as optional scopes of the job-grants client, and
    its offline bound: the longest ``max_days`` among them."""
    for api in apis:
        if JOBS_CLIENT in api.requesters:
            problems.append(
                Problem(
                    registry_file,
                    f"api {api.name}",
                    f"{JOBS_CLIENT} may not be a requester: it gets only the scopes whose "
                    "jobs: policy allows them (remove it from requester)",
                )
            )
    scopes = [(api, scope) for api in apis for scope in api.job_scopes.values()]
    if not scopes:
        return
    client = desired.clients.get(JOBS_CLIENT)
    if client is None:
        api, scope = scopes[0]
        problems.append(
            Problem(
                registry_file,
                f"api {api.name}, scope {scope.name}",
                f"its jobs: policy allows job grants, so the realm needs client {JOBS_CLIENT}: "
                f"add {realm_dir / 'clients' / JOBS_CLIENT}.yml with template: {JOBS_CLIENT}",
            )
        )
        return
    client["_optionalScopes"] = client["_optionalScopes"] or []
    for _, scope in scopes:
        if scope.name not in client["_optionalScopes"]:
            client["_optionalScopes"].append(scope.name)
    longest = max(scope.jobs.max_days for _, scope in scopes)
    client.setdefault("attributes", {})[CLIENT_OFFLINE_MAX] = str(longest * 86400)


class Apis(Kind):
    name = "apis"

    def read(self, desired: Desired, source: Source, problems: list[Problem]) -> None:
        """The objects the registry's APIs of this realm derive (after every file is read)."""
        apis = [api for api in source.apis.values() if api.realm == desired.realm]
        for api in apis:
            add_api(desired, api, source.realm_dir, source.registry_file, problems)
        add_job_grants(desired, apis, source.realm_dir, source.registry_file, problems)


KIND = Apis()
