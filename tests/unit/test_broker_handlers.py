"""The token-exchange handler over real HTTP (tornado): body size, bounded errors, Retry-After.

JupyterHub's own authentication is replaced by a fixed caller; everything after it (the
streamed body, parsing, the broker, the error responses) is the real handler.
"""

import json
import logging
from types import SimpleNamespace

import httpx
import pytest
import respx
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from hubbroker.errors import BrokerError
from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.handlers import BoundedBody, TokenExchangeHandler, parse_request
from tests.support.broker_fakes import TOKEN_URL, FreshUser, make_broker, registry

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
POLICY = registry("fruit-api", {"fruits:read": "fruit-reader"})
#: No response of the broker to a refused request is larger than this.
SMALL = 512


class Handler(TokenExchangeHandler):
    """The real handler with JupyterHub's login replaced: the caller is alice; the hub token
    that calls is named by the X-Test-Server header (a new one per value)."""

    async def prepare(self):
        self._jupyterhub_user = FreshUser()

    def _caller(self):
        return self.current_user, self.request.headers.get("X-Test-Server", "default")


def keycloak(request):
    form = dict(httpx.QueryParams(request.content.decode()))
    return httpx.Response(200, json={"access_token": "MINTED", "expires_in": 300, **form})


@pytest.fixture
async def hub():
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(side_effect=keycloak)
        async with httpx.AsyncClient() as http:
            broker = make_broker(
                http,
                POLICY,
                log=logging.getLogger("test.hubtokens.handlers"),
                limits=RequestLimits(max_body=4096, max_scopes=20, max_name_length=128),
                rate_limiter=MintRateLimiter(60, 3),
            )
            authenticator = SimpleNamespace(current_broker=lambda: broker, broker=broker)
            app = Application(
                [(r"/hub/api/token-exchange", Handler)],
                authenticator=authenticator,
                db=SimpleNamespace(dirty=[]),
                hub=SimpleNamespace(base_url="/hub/"),
                log=logging.getLogger("test.hubtokens.handlers"),
            )
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(app)
            server.add_sockets(sockets)
            port = sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}/hub/api/token-exchange"
            server.stop()


async def post(url, body, headers=None, chunked=False):
    """POST raw bytes; ``chunked`` streams them without a Content-Length."""
    kwargs = {"method": "POST", "headers": headers or {}, "raise_error": False}
    if chunked:

        async def produce(write):
            for start in range(0, len(body), 1024):
                await write(body[start : start + 1024])

        kwargs["body_producer"] = produce
    else:
        kwargs["body"] = body
    try:
        return await AsyncHTTPClient().fetch(url, **kwargs)
    except HTTPClientError as e:  # pragma: no cover - raise_error=False returns responses
        return e.response


def error_of(response):
    assert len(response.body) < SMALL, response.body[:200]
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body)
    assert set(body) == {"error", "message"}
    return body


def request_body(audience="fruit-api", scope="fruits:read", **more):
    return json.dumps({"audience": audience, "scope": scope, **more}).encode()


async def test_a_request_within_the_limits_mints(hub):
    response = await post(hub, request_body())
    assert response.code == 200
    assert json.loads(response.body)["access_token"] == "MINTED"


async def test_the_listing_says_what_the_calling_server_holds_never_the_tokens(hub):
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
async def test_an_oversized_body_is_413(hub, chunked):
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


async def test_a_thousand_scopes_are_400_with_a_small_body(hub):
    scope = " ".join(f"{i:03}" for i in range(1000))
    body = request_body(scope=scope)
    assert len(body) <= 4096
    response = await post(hub, body)
    assert response.code == 400
    assert "1000 scopes" in error_of(response)["message"]


async def test_a_long_audience_is_echoed_bounded(hub):
    response = await post(hub, request_body(audience="A" * 3000))
    assert response.code == 400
    message = error_of(response)["message"]
    assert "A" * 64 not in message and "…" in message


async def test_unknown_field_names_are_echoed_bounded(hub):
    response = await post(hub, json.dumps({"F" * 1000: 1, "audience": "fruit-api"}).encode())
    assert response.code == 400
    message = error_of(response)["message"]
    assert "unknown field" in message and "F" * 64 not in message


async def test_a_burst_beyond_the_rate_limit_is_429_with_retry_after(hub):
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
