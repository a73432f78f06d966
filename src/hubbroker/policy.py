"""The allowlist of audiences and scopes notebooks may ask for.

The policy is checked before Keycloak is asked: an audience or scope that is not listed
is refused by the hub. Keycloak then decides, per user, which of the listed scopes the
user's roles allow. The policy is the registry model itself (``apiregistry.ApiSpec``, one
per audience): the hub's realm's APIs in idp/apis.yml.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from apiregistry import ApiSpec
from hubbroker.errors import BrokerError
from tokencontract.errors import echo


class Policy:
    """Audiences (API names) and the scopes each offers, from the registry model::

    Policy(apiregistry.apis_of_realm(apiregistry.load_registry(path), realm))
    """

    def __init__(self, apis: Mapping[str, ApiSpec]) -> None:
        self.apis: dict[str, ApiSpec] = dict(apis)

    def check(self, audience: str, scopes: tuple[str, ...], username: str) -> None:
        """Raise ``BrokerError`` unless every requested scope is listed for the audience."""
        api = self.apis.get(audience)
        if api is None:
            known = ", ".join(sorted(self.apis)) or "none"
            raise BrokerError(
                "audience_not_allowed",
                f"audience {echo(audience)!r} is not in the hub's token policy (allowed: {known}). "
                "Ask a hub admin to register the API in idp/.",
            )
        if not scopes:
            raise BrokerError(
                "invalid_request",
                f"no scope requested: ask for at least one of {', '.join(sorted(api.scopes))}",
            )
        unknown = [scope for scope in scopes if scope not in api.scopes]
        if unknown:
            raise BrokerError(
                "scope_not_allowed",
                f"scope {echo(' '.join(unknown))} is not offered for audience {audience!r} "
                f"(offered: {', '.join(sorted(api.scopes))}); {username} cannot request it.",
            )

    def describe(self, audience: str, scopes: Iterable[str]) -> str:
        """Name the roles a user lacks for ``scopes``: used in 'ask an admin' messages."""
        api = self.apis[audience]
        roles = sorted({api.scopes[s].role for s in scopes if api.scopes[s].role})
        return f"role {', '.join(roles)}" if roles else "the matching role"

    def listing(self, granted_roles: Iterable[str]) -> dict[str, Any]:
        """What ``GET /hub/api/token-exchange`` returns: audiences, scopes, whether the user
        holds the role each scope needs (None when the scope names no role), whether a job
        grant may hold the scope and for how many days at most (docs/jobs.md), and the token
        files the admin has every server keep."""
        roles = set(granted_roles)
        return {
            "audiences": {
                name: {
                    "description": api.description,
                    "scopes": {
                        scope.name: {
                            "description": scope.description,
                            "role": scope.role,
                            "groups": list(scope.groups),  # the groups that have the role
                            "granted": (scope.role in roles) if scope.role else None,
                            "jobs": {
                                "allowed": scope.jobs.allowed,
                                "max_days": scope.jobs.max_days if scope.jobs.allowed else None,
                            },
                        }
                        for scope in api.scopes.values()
                    },
                    # The token files every server keeps (idp/apis.yml; userserver.tokenfiles).
                    "token_files": {name: list(scopes) for name, scopes in api.token_files.items()},
                }
                for name, api in self.apis.items()
            }
        }
