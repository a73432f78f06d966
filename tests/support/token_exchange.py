"""Token exchange at the real Keycloak (RFC 8693), as the hub's broker does it: with the
broker's own client (``jupyterhub-exchange``) and its secret from the stack's secrets file."""

from __future__ import annotations

import httpx

from tests.support.login_flows import keycloak_tokens
from tests.support.stack import Stack

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
#: The hub broker's token-exchange client (idp/templates/clients/jupyterhub-exchange.yml).
EXCHANGE_CLIENT = "jupyterhub-exchange"


#: Every claim a minted token carries: who (sub), for what (aud, scope), by whom (iss, azp),
#: when (iat, exp), its id (jti) and type (typ, which APIs check), and the opaque id of the
#: Keycloak session it came from (sid: Keycloak sets it on every token; no mapper removes it).
#: Nothing else about the user: no name, e-mail, groups, roles, auth_time or origins.
MINTED_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "jti", "azp", "scope", "typ", "sid"}


def exchange(stack: Stack, subject: str, scope: str, audience: str = "fruit-api") -> httpx.Response:
    return httpx.post(
        stack.token_url,
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS,
            "requested_token_type": ACCESS,
            "audience": audience,
            "scope": scope,
        },
        auth=(EXCHANGE_CLIENT, stack.secrets["JUPYTERHUB_EXCHANGE_CLIENT_SECRET"]),
    )


def curator_token(stack: Stack) -> str:
    subject = keycloak_tokens(stack, "curator")["access_token"]
    response = exchange(stack, subject, "fruits:read fruits:write fruits:exotic")
    assert response.status_code == 200, response.text
    return response.json()["access_token"]
