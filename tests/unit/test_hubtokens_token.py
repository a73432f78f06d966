"""AccessToken: never shows its secret, decodes claims for inspection."""

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from hubtokens import AccessToken

CLAIMS = {
    "sub": "1234-abcd",
    "preferred_username": "alice",
    "aud": "fruit-api",
    "azp": "jupyterhub",
    "scope": "fruits:read fruits:exotic",
    "iat": 1_900_000_000,
    "exp": 1_900_000_300,
}
SECRET = jwt.encode(CLAIMS, "test-signing-key-that-is-long-enough-32b", algorithm="HS256")


def make(seconds_left=287.0, value=SECRET):
    return AccessToken(
        value=value,
        audience="fruit-api",
        scope="fruits:read fruits:exotic",
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds_left),
    )


def test_repr_and_str_never_show_the_secret():
    token = make()
    for text in (repr(token), str(token), f"{token}", repr([token]), repr({"t": token})):
        assert SECRET not in text
        # not even a piece of the signature or payload
        assert SECRET.split(".")[2][:10] not in text and SECRET.split(".")[1][:10] not in text
    assert repr(token).startswith(
        "<AccessToken audience='fruit-api' scope='fruits:read fruits:exotic'"
    )
    assert "Z (in 28" in repr(token)


def test_repr_says_expired():
    assert "(expired)" in repr(make(seconds_left=-5))


def test_secret_available_deliberately():
    token = make()
    assert token.value == SECRET
    assert token.bearer() == f"Bearer {SECRET}"


def test_scopes_and_expiry():
    token = make(seconds_left=100)
    assert token.scopes == frozenset({"fruits:read", "fruits:exotic"})
    assert 98 < token.expires_in <= 100
    assert token.expires_at.tzinfo is not None
    assert not token.expired()
    assert token.expired(leeway=120)
    assert make(seconds_left=-1).expired()


def test_frozen():
    token = make()
    with pytest.raises(AttributeError):
        token.value = "other"


def test_naive_expiry_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        AccessToken(value="x", audience="a", scope="", expires_at=datetime.now())  # noqa: DTZ005


def test_claims_decode_without_verification():
    token = make()
    assert token.claims == CLAIMS  # exp in the past or future: no verification either way


def test_claims_of_an_expired_jwt_still_decode():
    expired = jwt.encode({"sub": "x", "exp": int(time.time()) - 3600}, "k" * 32, algorithm="HS256")
    assert make(value=expired).claims["sub"] == "x"


def test_claims_of_an_opaque_token_are_empty():
    assert make(value="not-a-jwt").claims == {}


def test_html_view_shows_claims_not_the_secret():
    page = make()._repr_html_()
    assert SECRET not in page
    assert SECRET.split(".")[2][:10] not in page
    for shown in ("alice", "1234-abcd", "jupyterhub", "fruits:read fruits:exotic", "<table>"):
        assert shown in page
    assert "2030-03-17T17:46:40Z" in page  # iat rendered as a UTC time
