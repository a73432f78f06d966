"""Token exchange at the real Keycloak: who gets which scope, and what the token says."""

from __future__ import annotations

import time

import pytest

from tests.integration.idp_helpers import admin as keycloak_admin
from tests.support.login_flows import keycloak_tokens
from tests.support.stack import Stack
from tests.support.token_exchange import EXCHANGE_CLIENT, MINTED_CLAIMS, exchange
from tokencontract.claims import unverified_claims


@pytest.fixture(scope="module")
def logins(stack: Stack) -> dict[str, str]:
    return {u: keycloak_tokens(stack, u)["access_token"] for u in ("reader", "curator", "visitor")}


@pytest.mark.parametrize(
    ("user", "scope", "granted"),
    [
        ("reader", "fruits:read", True),
        ("reader", "fruits:write", False),
        ("reader", "fruits:exotic", False),
        ("curator", "fruits:read", True),
        ("curator", "fruits:write", True),
        ("curator", "fruits:exotic", True),
        ("visitor", "fruits:read", False),
    ],
)
def test_scope_is_granted_only_to_users_with_the_role(
    stack: Stack, logins: dict[str, str], user: str, scope: str, granted: bool
) -> None:
    response = exchange(stack, logins[user], scope)
    if granted:
        assert response.status_code == 200, response.text
        assert scope in response.json()["scope"].split()
    else:
        assert response.status_code == 400
        assert "audience not available" in response.json()["error_description"].lower()


def test_mixed_request_drops_the_scope_the_user_lacks(stack: Stack, logins: dict[str, str]) -> None:
    response = exchange(stack, logins["reader"], "fruits:read fruits:write")
    assert response.status_code == 200
    scopes = response.json()["scope"].split()
    assert "fruits:read" in scopes and "fruits:write" not in scopes


def test_minted_token_is_short_lived_single_audience_and_has_no_refresh_token(
    stack: Stack, logins: dict[str, str]
) -> None:
    body = exchange(stack, logins["curator"], "fruits:read fruits:exotic").json()
    assert "refresh_token" not in body and "id_token" not in body
    claims = unverified_claims(body["access_token"])
    assert claims["aud"] in ("fruit-api", ["fruit-api"])
    assert claims["iss"] == stack.issuer
    assert claims["azp"] == EXCHANGE_CLIENT
    assert {"fruits:read", "fruits:exotic"} <= set(claims["scope"].split())
    assert "fruits:write" not in claims["scope"].split()
    assert 0 < claims["exp"] - claims["iat"] <= 300


@pytest.mark.parametrize("user", ["reader", "curator"])
def test_minted_token_carries_exactly_the_claims_asked_for(
    stack: Stack, logins: dict[str, str], user: str
) -> None:
    """Least privilege in the token itself: the subject, the API and the granted scopes, and
    nothing else (review item 6) - not the hub's login scopes, groups or realm roles."""
    body = exchange(stack, logins[user], "fruits:read").json()
    claims = unverified_claims(body["access_token"])
    assert set(claims) == MINTED_CLAIMS, sorted(set(claims) ^ MINTED_CLAIMS)
    assert claims["scope"] == "fruits:read"
    assert claims["aud"] in ("fruit-api", ["fruit-api"])
    assert claims["typ"] == "Bearer"
    assert claims["sub"] == unverified_claims(logins[user])["sub"]


def test_unknown_audience_is_refused(stack: Stack, logins: dict[str, str]) -> None:
    response = exchange(stack, logins["curator"], "fruits:read", audience="payroll")
    assert response.status_code == 400


def test_token_exchange_is_recorded_as_an_event(stack: Stack, logins: dict[str, str]) -> None:
    started = int(time.time() * 1000) - 1000
    assert exchange(stack, logins["reader"], "fruits:read").status_code == 200
    events = keycloak_admin(stack).get(f"/{stack.realm}/events", type="TOKEN_EXCHANGE", max=50)
    recent = [e for e in events if e["time"] >= started and e.get("clientId") == EXCHANGE_CLIENT]
    assert recent, "no TOKEN_EXCHANGE event recorded"
