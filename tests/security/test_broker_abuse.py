"""Overloading the token broker (issue 9, item 8): huge bodies, a thousand scopes, huge names
echoed back, and a user with many hub tokens forcing exchange after exchange at Keycloak.

Each test passes only when the attack fails. The limits are the hub's settings
(TOKEN_EXCHANGE_*, read here through the same table); the whole file takes a few seconds
plus one Retry-After wait (at most the 10 s burst window with the defaults).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from stackconf import settings as conf
from tests.support.login_flows import CookieCarrier, create_api_token, hub_session
from tests.support.stack import Stack

MAX_BODY = conf.get_int("TOKEN_EXCHANGE_MAX_BODY")
MAX_SCOPES = conf.get_int("TOKEN_EXCHANGE_MAX_SCOPES")
MAX_NAME = conf.get_int("TOKEN_EXCHANGE_MAX_NAME_LENGTH")
RATE = conf.get_int("TOKEN_EXCHANGE_RATE")
BURST = conf.get_int("TOKEN_EXCHANGE_BURST")
#: No refusal of the broker is larger than this, whatever the request was.
SMALL = 1024
EXCHANGE_SCOPE = ["custom:token-exchange!user"]


def broker_url(stack: Stack) -> str:
    return f"{stack.public_url}/hub/api/token-exchange"


def post(stack: Stack, token: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    return httpx.post(broker_url(stack), headers=headers, timeout=30.0, **kwargs)


def refusal(response: httpx.Response, status: int, code: str) -> str:
    """The contract's error shape with ``status`` and ``code``, in a small body: its message."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert len(response.content) < SMALL, f"{len(response.content)} bytes answered"
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    return body["message"]


@pytest.fixture(scope="module")
def reader_session(stack: Stack) -> CookieCarrier:
    return hub_session(stack, "reader")


@pytest.fixture(scope="module")
def reader(stack: Stack, reader_session: CookieCarrier) -> str:
    """A hub API token of reader that may call the broker (as a notebook server's has)."""
    return create_api_token(stack, reader_session, "reader", EXCHANGE_SCOPE)


def test_the_broker_mints_for_this_token(stack: Stack, reader: str) -> None:
    """Not an attack: proves the token works, so each refusal below is the limit's."""
    response = post(stack, reader, json={"audience": "fruit-api", "scope": "fruits:read"})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["access_token"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_oversized_body_is_refused_with_413(stack: Stack, reader: str, framing: str) -> None:
    size = max(1 << 20, 16 * MAX_BODY)
    body = b'{"audience": "fruit-api", "scope": "fruits:read", "pad": "' + b"x" * size + b'"}'
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    content = body if framing == "content-length" else iter(chunks)  # iter: chunked encoding
    message = refusal(post(stack, reader, content=content), 413, "request_too_large")
    assert f"{MAX_BODY} bytes" in message


def test_a_thousand_scopes_are_refused_with_400_and_a_small_body(stack: Stack, reader: str) -> None:
    scopes = [f"{i:03}" for i in range(1000)]
    body = json.dumps({"audience": "fruit-api", "scope": " ".join(scopes)}).encode()
    assert len(body) <= MAX_BODY, "the attack must fit the body limit to reach the scope limit"
    assert MAX_SCOPES < 1000
    message = refusal(post(stack, reader, content=body), 400, "invalid_request")
    assert "1000 scopes" in message
    assert "123 124" not in message  # the scopes are not echoed


@pytest.mark.parametrize("where", ["audience", "scope", "field"])
def test_a_huge_name_is_echoed_bounded(stack: Stack, reader: str, where: str) -> None:
    huge = "A" * max(3000, 2 * MAX_NAME)
    request = {"audience": "fruit-api", "scope": "fruits:read"}
    if where == "field":
        request[huge] = 1
    else:
        request[where] = huge if where == "audience" else f"fruits:read {huge}"
    body = json.dumps(request).encode()
    assert len(body) <= MAX_BODY
    message = refusal(post(stack, reader, content=body), 400, "invalid_request")
    assert "A" * 65 not in message
    assert "…" in message


@pytest.fixture(scope="module")
def attacker(stack: Stack) -> tuple[CookieCarrier, str]:
    """hubadmin's hub session: it mints as many hub API tokens as it likes."""
    return hub_session(stack, "hubadmin"), "hubadmin"


def test_many_hub_tokens_cannot_force_unlimited_exchanges(
    stack: Stack, reader_session: CookieCarrier, attacker: tuple[CookieCarrier, str]
) -> None:
    """One user with many hub tokens: every first mint of a token is a cache miss that reaches
    Keycloak. The hub answers 429 with Retry-After before the limit is exceeded, other users
    still mint, and after Retry-After the user mints again."""
    assert RATE > 0, "TOKEN_EXCHANGE_RATE=0: the broker has no rate limit"
    limit, window = (BURST, 10) if 0 < BURST < RATE else (RATE, 60)
    browser, user = attacker
    tokens = [create_api_token(stack, browser, user, EXCHANGE_SCOPE) for _ in range(limit + 3)]
    request = {"audience": "fruit-api", "scope": "fruits:read"}
    answered = []
    limited = None
    for token in tokens:
        response = post(stack, token, json=request)
        if response.status_code == 429:
            limited = (response, token)
            break
        assert response.status_code == 200, response.text[:300]
        answered.append(token)
    assert limited is not None, f"{len(answered)} new tokens in a row, none refused"
    assert len(answered) <= limit  # earlier tests of this user may have used some already
    response, refused_token = limited
    message = refusal(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window
    assert f"retry in {retry_after} s" in message
    again = post(stack, refused_token, json=request)
    assert again.status_code == 429  # a refused mint is not cached nor let through

    # The limit is the user's: another user's new token (a cache miss) still mints meanwhile.
    reader = create_api_token(stack, reader_session, "reader", EXCHANGE_SCOPE)
    other = post(stack, reader, json={"audience": "fruit-api", "scope": "fruits:read"})
    assert other.status_code == 200, other.text[:300]

    time.sleep(retry_after)
    recovered = post(stack, refused_token, json=request)
    assert recovered.status_code == 200, recovered.text[:300]
    assert recovered.json()["access_token"]
