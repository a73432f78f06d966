"""hubtokens: short-lived API tokens for notebook code, minted by the JupyterHub token broker.

Usage, inside a notebook server started by JupyterHub::

    import hubtokens, httpx, requests
    token = hubtokens.get("fruit-api", scope="fruits:read")   # repr never shows the secret
    auth = hubtokens.HubTokenAuth("fruit-api", "fruits:read")  # renews tokens by itself
    httpx.get("https://fruit.example.org/fruits", auth=auth)
    requests.get("https://fruit.example.org/fruits", auth=auth)

``hubtokens.available()`` lists the APIs and scopes you may request, and whether you hold
the role each scope needs::

    {"audiences": {"fruit-api": {"description": "...", "scopes": {
        "fruits:read": {"description": "...", "role": "fruit-reader", "granted": True}}}}}

Imports without JupyterHub and without the hub's broker (``hubbroker``): it needs only httpx,
tenacity (its retries while the hub or Keycloak is down), click (the ``hubtokens`` command) and
``tokencontract`` (what it shares with the broker, standard library only); ``requests`` is
optional.
"""

from __future__ import annotations

from typing import Any

from tokencontract.scopes import ScopeArg

from .auth import HubTokenAuth
from .client import TokenClient, default_client, reset_default_client
from .errors import (
    ERROR_STATUS,
    AudienceNotAllowed,
    BrokerUnreachable,
    Forbidden,
    GrantEnded,
    HubTokensError,
    HubUnavailable,
    IdpUnavailable,
    InvalidRequest,
    LoginRequired,
    NotGrantedToJob,
    NotInJupyterHub,
    RateLimited,
    RequestTooLarge,
    ScopeNotAllowed,
)
from .token import AccessToken

__all__ = [
    "ERROR_STATUS",
    "AccessToken",
    "AudienceNotAllowed",
    "BrokerUnreachable",
    "Forbidden",
    "HubTokenAuth",
    "HubTokensError",
    "HubUnavailable",
    "IdpUnavailable",
    "InvalidRequest",
    "LoginRequired",
    "NotInJupyterHub",
    "RateLimited",
    "RequestTooLarge",
    "ScopeNotAllowed",
    "NotGrantedToJob",
    "GrantEnded",
    "TokenClient",
    "available",
    "clear_cache",
    "get",
]


def get(audience: str, scope: ScopeArg = None) -> AccessToken:
    """A short-lived token for ``audience`` (e.g. ``"fruit-api"``) with ``scope``."""
    return default_client().get(audience, scope)


def available() -> dict[str, Any]:
    """What you may request: ``{"audiences": {name: {"description", "scopes": {scope:
    {"description", "role", "granted"}}}}}`` (``granted``: you hold the scope's role now)."""
    return default_client().available()


def clear_cache() -> None:
    """Forget all cached tokens and the default client (it is recreated on next use)."""
    reset_default_client()
