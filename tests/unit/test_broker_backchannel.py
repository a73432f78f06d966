"""OIDC Back-Channel Logout: which logout tokens the hub accepts (``verify_logout_token``)
and which hub users one names (``names_user``). Keys are generated here; the live path (Keycloak
signs, the hub revokes) is tests/integration/test_backchannel_logout.py."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hubbroker.backchannel import (
    BACKCHANNEL_LOGOUT_EVENT,
    InvalidLogoutToken,
    names_user,
    verify_logout_token,
)
from hubbroker.service import SUB_KEY

ISSUER = "https://hub.example.org/auth/realms/demo"
CLIENT = "jupyterhub"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def logout_token(key=KEY, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 60,
        "jti": "j1",
        "sub": "user-sub-1",
        "sid": "session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "typ": "Logout",
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg)


def verify(token: str) -> dict[str, Any]:
    return verify_logout_token(
        token, signing_key=lambda _t: KEY.public_key(), issuer=ISSUER, client_id=CLIENT
    )


def test_a_logout_token_of_keycloak_for_this_hub_is_accepted() -> None:
    claims = verify(logout_token())
    assert claims["sub"] == "user-sub-1" and claims["sid"] == "session-1"


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (lambda: logout_token(key=OTHER_KEY), "Signature verification failed"),
        (lambda: logout_token(iss="https://evil.example/realms/demo"), "issuer"),
        (lambda: logout_token(aud="another-client"), "Audience"),
        (lambda: logout_token(exp=int(time.time()) - 600), "expired"),
        (lambda: logout_token(iat=None), "iat"),
        (lambda: logout_token(events=None), "no back-channel logout event"),
        (lambda: logout_token(events={"other": {}}), "no back-channel logout event"),
        (lambda: logout_token(nonce="n"), "nonce"),
        (lambda: logout_token(sub=None, sid=None), "neither a user"),
        (lambda: jwt.encode({"iss": ISSUER}, "secret", algorithm="HS256"), "not valid"),
        (lambda: "", "no logout_token"),
        (lambda: "not-a-jwt", "not valid"),
    ],
    ids=[
        "another key",
        "another issuer",
        "another client",
        "expired",
        "no iat",
        "no events",
        "another event",
        "nonce",
        "no sub or sid",
        "HS256",
        "empty",
        "garbage",
    ],
)
def test_anything_else_is_refused_and_says_why(token, says) -> None:
    with pytest.raises(InvalidLogoutToken) as refused:
        verify(token())
    assert says in str(refused.value)


def test_the_token_names_users_by_their_keycloak_account_or_session() -> None:
    bound = {SUB_KEY: "user-sub-1", "token_response": {"session_state": "session-1"}}
    assert names_user(bound, {"sub": "user-sub-1"})
    assert not names_user(bound, {"sub": "user-sub-2"})
    assert not names_user({SUB_KEY: "user-sub-2"}, {"sub": "user-sub-1"})
    assert not names_user(None, {"sub": "user-sub-1"})
    assert names_user(bound, {"sid": "session-1"})  # a token that names only the session
    assert not names_user(bound, {"sid": "session-2"})
    assert not names_user({SUB_KEY: "user-sub-1"}, {"sid": "session-1"})
