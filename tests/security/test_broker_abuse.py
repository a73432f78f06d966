"""Overloading the token broker (issue 9, item 8): huge bodies, a thousand scopes, huge names
echoed back, and a user with many hub tokens forcing exchange after exchange at Keycloak.

Each test passes only when the attack fails. The broker answers only a server's own token
from inside that server (test_broker_callers.py), so the attacks are sent from the reader's
server with its token. The limits are the hub's settings (TOKEN_EXCHANGE_*, read here through
the same table). The per-user rate limit of cache misses is unit tested
(tests/unit/test_broker_handlers.py): one server cannot make enough distinct requests here.
"""

from __future__ import annotations

import json

import httpx
import pytest

from stackconf import settings as conf
from tests.support.login_flows import create_api_token, hub_session
from tests.support.servers import call_as_server
from tests.support.stack import Stack

MAX_BODY = conf.get_int("TOKEN_EXCHANGE_MAX_BODY")
MAX_SCOPES = conf.get_int("TOKEN_EXCHANGE_MAX_SCOPES")
MAX_NAME = conf.get_int("TOKEN_EXCHANGE_MAX_NAME_LENGTH")
#: No refusal of the broker is larger than this, whatever the request was.
SMALL = 1024
EXCHANGE_SCOPE = ["custom:token-exchange!user"]


def post(stack: Stack, content: bytes, chunked: bool = False) -> httpx.Response:
    """POST ``content`` to the broker from the reader's server, with the server's token."""
    return call_as_server(stack, "reader", "POST", content=content, chunked=chunked)


def request(**fields) -> bytes:
    return json.dumps(fields).encode()


def refusal(response: httpx.Response, status: int, code: str) -> str:
    """The contract's error shape with ``status`` and ``code``, in a small body: its message."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert len(response.content) < SMALL, f"{len(response.content)} bytes answered"
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    return body["message"]


def test_the_broker_mints_for_this_server(stack: Stack) -> None:
    """Not an attack: proves the caller works, so each refusal below is the limit's."""
    response = post(stack, request(audience="fruit-api", scope="fruits:read"))
    assert response.status_code == 200, response.text[:300]
    assert response.json()["access_token"]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_oversized_body_is_refused_with_413(stack: Stack, framing: str) -> None:
    size = max(1 << 20, 16 * MAX_BODY)
    body = b'{"audience": "fruit-api", "scope": "fruits:read", "pad": "' + b"x" * size + b'"}'
    response = post(stack, body, chunked=framing == "chunked")
    message = refusal(response, 413, "request_too_large")
    assert f"{MAX_BODY} bytes" in message


def test_a_thousand_scopes_are_refused_with_400_and_a_small_body(stack: Stack) -> None:
    scopes = [f"{i:03}" for i in range(1000)]
    body = json.dumps({"audience": "fruit-api", "scope": " ".join(scopes)}).encode()
    assert len(body) <= MAX_BODY, "the attack must fit the body limit to reach the scope limit"
    assert MAX_SCOPES < 1000
    message = refusal(post(stack, body), 400, "invalid_request")
    assert "1000 scopes" in message
    assert "123 124" not in message  # the scopes are not echoed


@pytest.mark.parametrize("where", ["audience", "scope", "field"])
def test_a_huge_name_is_echoed_bounded(stack: Stack, where: str) -> None:
    huge = "A" * max(3000, 2 * MAX_NAME)
    request = {"audience": "fruit-api", "scope": "fruits:read"}
    if where == "field":
        request[huge] = 1
    else:
        request[where] = huge if where == "audience" else f"fruits:read {huge}"
    body = json.dumps(request).encode()
    assert len(body) <= MAX_BODY
    message = refusal(post(stack, body), 400, "invalid_request")
    assert "A" * 65 not in message
    assert "…" in message


def test_many_hub_tokens_cannot_force_exchanges(stack: Stack) -> None:
    """One user with many hub tokens, each a cache miss at Keycloak before: now no token a
    user makes mints at all, from anywhere, so their number forces no exchange. From inside
    the user's own server (where a server token would mint), each is refused."""
    browser = hub_session(stack, "hubadmin")
    tokens = [create_api_token(stack, browser, "hubadmin", EXCHANGE_SCOPE) for _ in range(5)]
    body = request(audience="fruit-api", scope="fruits:read")
    for token in tokens:
        inside = call_as_server(stack, "hubadmin", "POST", content=body, token=token)
        assert "server's own token" in refusal(inside, 403, "forbidden")
    # Control: the server's own token mints from there.
    assert call_as_server(stack, "hubadmin", "POST", content=body).status_code == 200
