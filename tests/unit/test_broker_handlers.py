"""The token-exchange handler over real HTTP (tornado): body size, bounded errors, Retry-After.

JupyterHub's own authentication is replaced by a fixed caller; everything after it (the
streamed body, parsing, the broker, the error responses) is the real handler
(tests/support/broker_handler.py serves it).
"""

import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from hubbroker.errors import BrokerError
from hubbroker.handlers import BoundedBody, parse_request
from tests.support.broker_handler import error_of, hub, post  # noqa: F401 (hub: fixture)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def request_body(audience="fruit-api", scope="fruits:read", **more):
    return json.dumps({"audience": audience, "scope": scope, **more}).encode()


async def test_a_request_within_the_limits_mints(hub):  # noqa: F811 (fixture)
    response = await post(hub, request_body())
    assert response.code == 200
    assert json.loads(response.body)["access_token"] == "MINTED"


async def test_the_listing_says_what_the_calling_server_holds_never_the_tokens(hub):  # noqa: F811 (fixture)
    await post(hub, request_body(), headers={"X-Test-Server": "default"})
    await post(hub, request_body(), headers={"X-Test-Server": "other"})
    response = await AsyncHTTPClient().fetch(hub, headers={"X-Test-Server": "default"})
    listing = json.loads(response.body)
    (held,) = listing["held"]  # the other server's token is not this one's
    assert set(held) == {"audience", "scope", "minted_at", "expires_at"}
    assert (held["audience"], held["scope"]) == ("fruit-api", "fruits:read")
    assert held["minted_at"] < held["expires_at"] and held["expires_at"].endswith("Z")
    assert "MINTED" not in response.body.decode()
    assert "fruits:read" in listing["audiences"]["fruit-api"]["scopes"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_413(hub, chunked):  # noqa: F811 (fixture)
    body = request_body(padding="x" * 200_000)
    response = await post(hub, body, chunked=chunked)
    assert response.code == 413
    assert error_of(response)["error"] == "request_too_large"
    assert "4096 bytes" in error_of(response)["message"]


async def test_a_body_of_exactly_the_limit_is_read():
    body = BoundedBody(10)
    body.feed(b"12345")
    body.feed(b"67890")
    assert (body.too_large, body.data) == (False, b"1234567890")
    body.feed(b"1")
    assert body.too_large and body.data == b"" and body.size == 11
    body.feed(b"x" * 1000)
    assert body.data == b""  # nothing past the limit is kept


async def test_a_thousand_scopes_are_400_with_a_small_body(hub):  # noqa: F811 (fixture)
    scope = " ".join(f"{i:03}" for i in range(1000))
    body = request_body(scope=scope)
    assert len(body) <= 4096
    response = await post(hub, body)
    assert response.code == 400
    assert "1000 scopes" in error_of(response)["message"]


async def test_a_long_audience_is_echoed_bounded(hub):  # noqa: F811 (fixture)
    response = await post(hub, request_body(audience="A" * 3000))
    assert response.code == 400
    message = error_of(response)["message"]
    assert "A" * 64 not in message and "…" in message


async def test_unknown_field_names_are_echoed_bounded(hub):  # noqa: F811 (fixture)
    response = await post(hub, json.dumps({"F" * 1000: 1, "audience": "fruit-api"}).encode())
    assert response.code == 400
    message = error_of(response)["message"]
    assert "unknown field" in message and "F" * 64 not in message


async def test_a_burst_beyond_the_rate_limit_is_429_with_retry_after(hub):  # noqa: F811 (fixture)
    for n in range(3):
        response = await post(hub, request_body(), {"X-Test-Server": f"token-{n}"})
        assert response.code == 200
    response = await post(hub, request_body(), {"X-Test-Server": "token-3"})
    assert response.code == 429
    assert error_of(response)["error"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 10
    assert f"retry in {retry_after} s" in error_of(response)["message"]
    cached = await post(hub, request_body(), {"X-Test-Server": "token-0"})
    assert cached.code == 200  # a cached token is still served


def test_parse_request_refuses_what_is_not_the_contract():
    assert parse_request(b'{"audience": "a", "scope": "s"}') == ("a", "s")
    for raw in (b"not json", b"[1]", b'{"audience": "a", "extra": 1}'):
        with pytest.raises(BrokerError) as info:
            parse_request(raw)
        assert info.value.code == "invalid_request"
