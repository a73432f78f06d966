"""Sending the fruit API a token that is not meant for it (issue 9): the user's ID token,
their refresh token, and the hub login's own access token. All three are real tokens, signed
by the realm this API trusts, of a user who may read fruits: only the API's checks of ``typ``,
``alg`` and ``aud`` stand in the way.

Each test passes only when the attack fails; the comment in each says what makes it fail.
A positive control first: a token exchanged for the API, sent the same way, is accepted (so a
refusal below is the check at work, not a broken route).
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from tests.support.login_flows import keycloak_tokens
from tests.support.stack import Stack
from tests.support.token_exchange import exchange
from tokencontract.claims import unverified_claims

USER = "reader"  # holds fruit-reader: a token for the API with fruits:read would be accepted
AUDIENCE = "fruit-api"


def fruits(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.public_url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )


def refusal(response: httpx.Response) -> str:
    """A 401 ``invalid_token`` in the API's shape (body and header): its message."""
    assert response.status_code == 401, (response.status_code, response.text[:500])
    body = response.json()
    assert body["error"] == "invalid_token", body
    header = response.headers["www-authenticate"]
    assert header.startswith('Bearer error="invalid_token", error_description="'), header
    return body["message"]


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud", [])
    return [aud] if isinstance(aud, str) else list(aud)


@pytest.fixture(scope="module")
def login(stack: Stack) -> dict[str, Any]:
    """The token response the hub gets when the user logs in (access, ID and refresh tokens):
    what the hub holds in auth_state."""
    response = keycloak_tokens(stack, USER)
    assert {"access_token", "id_token", "refresh_token"} <= set(response), sorted(response)
    return response


def test_an_exchanged_token_for_the_api_is_accepted(stack: Stack, login: dict[str, Any]) -> None:
    """The control: what the broker mints (typ Bearer, aud fruit-api alone, azp
    jupyterhub-exchange) passes every check the attacks below hit. Fails if the API refuses
    the broker's tokens, e.g. an ``azp`` allowlist without the exchange client or a stricter
    ``aud`` rule."""
    minted = exchange(stack, login["access_token"], "fruits:read")
    assert minted.status_code == 200, minted.text
    claims = unverified_claims(minted.json()["access_token"])
    assert claims["typ"].lower() == "bearer"
    assert audiences(claims) == [AUDIENCE]
    assert claims["azp"] == "jupyterhub-exchange"
    response = fruits(stack, minted.json()["access_token"])
    assert response.status_code == 200, response.text
    assert "apple" in response.json()["fruits"]


def test_the_users_id_token_is_refused_as_an_id_token(stack: Stack, login: dict[str, Any]) -> None:
    """An ID token is RS256, signed with the realm's key, of the right issuer and unexpired.

    Fails if the API accepts it (200), or refuses it for another reason than its type: the
    message must say typ is ID. The API checks ``typ`` before ``aud``, so without the ``typ``
    check it would still be refused, but as "token audience is jupyterhub", and this fails."""
    id_token = login["id_token"]
    claims = unverified_claims(id_token)
    assert claims["typ"] == "ID", claims.get("typ")  # what makes this the attack
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    message = refusal(fruits(stack, id_token))
    assert "token type (typ) is ID" in message, message
    assert "only access tokens" in message, message


def test_the_users_refresh_token_is_refused(stack: Stack, login: dict[str, Any]) -> None:
    """A refresh token is for Keycloak only. Keycloak signs it with the realm's HMAC key
    (HS512) unless configured otherwise: then the algorithm allowlist refuses it; signed
    asymmetrically, the ``typ`` check (Refresh) does.

    Fails if the API accepts it (200) or the message names neither the algorithm nor the
    token type (e.g. a bare "invalid token", or a 503 from treating the HMAC key as missing)."""
    refresh_token = login["refresh_token"]
    claims = unverified_claims(refresh_token)
    assert claims["typ"] in ("Refresh", "Offline"), claims.get("typ")  # a refresh token
    alg = jwt.get_unverified_header(refresh_token)["alg"]
    message = refusal(fruits(stack, refresh_token))
    if alg.upper().startswith("HS"):
        assert f"algorithm {alg} is not allowed; this API accepts RS256" in message, message
    else:
        assert f"token type (typ) is {claims['typ']}" in message, message


def test_the_hub_login_access_token_is_refused_for_its_audience(
    stack: Stack, login: dict[str, Any]
) -> None:
    """The hub's own access token is a real access token (typ Bearer, azp jupyterhub) of a
    user with the fruit-reader role, but minted for the hub's login, not for the API: only the
    audience check refuses it.

    Fails if the API accepts it (200), or refuses it for another reason than the audience
    (so a regression of ``aud`` hidden by another check is seen too)."""
    access_token = login["access_token"]
    claims = unverified_claims(access_token)
    assert claims["typ"].lower() == "bearer" and claims["azp"] == "jupyterhub"
    assert AUDIENCE not in audiences(claims), claims.get("aud")  # what makes this the attack
    message = refusal(fruits(stack, access_token))
    if "aud" in claims:
        assert "token audience is" in message and f"this API is {AUDIENCE}" in message, message
    else:
        assert "token has no aud claim" in message, message
