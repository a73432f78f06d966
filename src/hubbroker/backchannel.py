"""OIDC Back-Channel Logout 1.0: Keycloak tells the hub that a user's session ended.

When a session ends in Keycloak (an admin signs the user out, the user signs out of another
application or of Keycloak's account console, the user is disabled), Keycloak POSTs a signed
*logout token* to the hub's client's ``backchannel.logout.url``. The hub then revokes the user
at once, as at a logout in the hub: the broker stops minting (epoch, cache), ``auth_state``
is cleared but for the Keycloak ``sub``, and the user's hub API tokens are revoked. Without it,
the hub would notice only at its next refresh of the user's Keycloak token (minutes).

The token is verified like any token from Keycloak: signature by the realm's keys (JWKS, the
back-channel URL), issuer, audience (the hub's client), and the claims the specification
requires of a logout token. Pure functions here; the handler is in ``handlers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from hubbroker.service import SUB_KEY

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ALGORITHMS = ["RS256"]


class InvalidLogoutToken(ValueError):
    """The logout token is not one Keycloak made for this hub: nothing is revoked."""


def verify_logout_token(
    token: str,
    *,
    signing_key: Callable[[str], Any],
    issuer: str,
    client_id: str,
    leeway: float = 5.0,
) -> dict[str, Any]:
    """The claims of a valid logout token, or ``InvalidLogoutToken`` naming what is wrong.

    ``signing_key(token)`` returns the public key the token names (e.g. PyJWKClient's
    ``get_signing_key_from_jwt(token).key``)."""
    if not token:
        raise InvalidLogoutToken("no logout_token in the request body")
    try:
        key = signing_key(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=client_id,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["iss", "aud", "iat"]},
        )
    except (jwt.PyJWTError, ValueError) as e:
        raise InvalidLogoutToken(f"the logout token is not valid: {e}") from None
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
        raise InvalidLogoutToken("the token is not a logout token (no back-channel logout event)")
    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token must not carry a nonce")
    if not claims.get("sub") and not claims.get("sid"):
        raise InvalidLogoutToken("the logout token names neither a user (sub) nor a session (sid)")
    return claims


def names_user(state: dict[str, Any] | None, claims: dict[str, Any]) -> bool:
    """Whether a hub user's auth_state belongs to the account (``sub``) or, for a token that
    names only a session, the Keycloak session (``sid``) a logout token names."""
    if claims.get("sub"):
        return (state or {}).get(SUB_KEY) == claims["sub"]
    session = ((state or {}).get("token_response") or {}).get("session_state")
    return bool(session) and session == claims.get("sid")
