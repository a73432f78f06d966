"""The allowlist of audiences and scopes notebooks may ask for.

The policy is checked before Keycloak is asked: an audience or scope that is not listed
is refused by the hub. Keycloak then decides, per user, which of the listed scopes the
user's roles allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubtokens.broker.errors import BrokerError


@dataclass(frozen=True)
class ScopeRule:
    """One scope an audience offers, and the realm role Keycloak requires for it."""

    name: str
    description: str = ""
    role: str | None = None


@dataclass(frozen=True)
class AudienceRule:
    name: str
    description: str = ""
    scopes: dict[str, ScopeRule] = field(default_factory=dict)


def normalize_scope(scope: str | Iterable[str] | None) -> tuple[str, ...]:
    """Split an OAuth scope string (or take a list) into sorted unique scopes."""
    if scope is None:
        return ()
    if isinstance(scope, str):
        items = scope.split()
    elif isinstance(scope, list | tuple):
        items = list(scope)
    else:
        items = [None]  # any other JSON type is refused below
    if not all(isinstance(item, str) and item and " " not in item for item in items):
        raise BrokerError(
            "invalid_request",
            "scope must be a space-separated string or a list of scope names, "
            'e.g. "fruits:read fruits:exotic"',
        )
    return tuple(sorted(set(items)))


class Policy:
    """Audiences and their scopes, loaded from a mapping such as::

    {"fruit-api": {"description": "...",
                   "scopes": {"fruits:read": {"description": "...", "role": "fruit-reader"}}}}
    """

    def __init__(self, audiences: Mapping[str, Mapping[str, Any]]) -> None:
        self.audiences: dict[str, AudienceRule] = {}
        for name, spec in audiences.items():
            scopes = {
                scope: ScopeRule(scope, rule.get("description", ""), rule.get("role"))
                for scope, rule in (spec.get("scopes") or {}).items()
            }
            if not scopes:
                raise ValueError(f"audience {name!r} in the broker policy lists no scopes")
            self.audiences[name] = AudienceRule(name, spec.get("description", ""), scopes)

    def check(self, audience: str, scopes: tuple[str, ...], username: str) -> None:
        """Raise ``BrokerError`` unless every requested scope is listed for the audience."""
        rule = self.audiences.get(audience)
        if rule is None:
            known = ", ".join(sorted(self.audiences)) or "none"
            raise BrokerError(
                "audience_not_allowed",
                f"audience {audience!r} is not in the hub's token policy (allowed: {known}). "
                "Ask a hub admin to register the API in idp/.",
            )
        if not scopes:
            raise BrokerError(
                "invalid_request",
                f"no scope requested: ask for at least one of {', '.join(sorted(rule.scopes))}",
            )
        unknown = [scope for scope in scopes if scope not in rule.scopes]
        if unknown:
            raise BrokerError(
                "scope_not_allowed",
                f"scope {' '.join(unknown)} is not offered for audience {audience!r} "
                f"(offered: {', '.join(sorted(rule.scopes))}); {username} cannot request it.",
            )

    def describe(self, audience: str, scopes: Iterable[str]) -> str:
        """Name the roles a user lacks for ``scopes``: used in 'ask an admin' messages."""
        rule = self.audiences[audience]
        roles = sorted({rule.scopes[s].role for s in scopes if rule.scopes[s].role})
        return f"role {', '.join(roles)}" if roles else "the matching role"

    def listing(self, granted_roles: Iterable[str]) -> dict[str, Any]:
        """What ``GET /hub/api/token-exchange`` returns: audiences, scopes, and whether the
        user holds the role each scope needs (None when the policy names no role)."""
        roles = set(granted_roles)
        return {
            "audiences": {
                name: {
                    "description": rule.description,
                    "scopes": {
                        scope.name: {
                            "description": scope.description,
                            "role": scope.role,
                            "granted": (scope.role in roles) if scope.role else None,
                        }
                        for scope in rule.scopes.values()
                    },
                }
                for name, rule in self.audiences.items()
            }
        }
