"""A TokenBroker for unit tests: a fake Keycloak at TOKEN_URL (mock it with respx), the hub's
client, the default margins; a test passes only what it is about."""

from __future__ import annotations

from typing import Any

import httpx

from apiregistry import ApiSpec, ScopeSpec
from hubtokens.broker.policy import Policy
from hubtokens.broker.service import TokenBroker

TOKEN_URL = "http://keycloak.test:8080/realms/demo/protocol/openid-connect/token"


def make_broker(http: httpx.AsyncClient, apis: dict, **overrides: Any) -> TokenBroker:
    settings: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "client_id": "jupyterhub",
        "client_secret": "hub-secret",
        "refresher": None,
        "cache_margin": 30,
        "refresh_margin": 60,
    }
    return TokenBroker(policy=Policy(apis), http=http, **{**settings, **overrides})


def registry(audience: str, roles: dict[str, str], realm: str = "demo") -> dict[str, ApiSpec]:
    """One API of the registry, ``roles`` mapping each scope it offers to its gate role."""
    scopes = {scope: ScopeSpec(scope, "", role, ()) for scope, role in roles.items()}
    return {audience: ApiSpec(audience, realm, "jupyterhub", "", scopes)}
