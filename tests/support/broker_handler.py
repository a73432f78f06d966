"""The broker's token-exchange handler over real HTTP (tornado), for the tests that call it:
JupyterHub's own authentication replaced by a fixed caller, Keycloak mocked (respx) by an
answer that echoes the exchange's form; everything after the caller (the streamed body,
parsing, the broker, the error responses) is the real handler. ``hub``: the fixture serving
it (a test module imports it); ``post`` sends raw bytes; ``error_of`` checks a refusal."""

from __future__ import annotations

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

from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.handlers import TokenExchangeHandler
from tests.support.broker_fakes import TOKEN_URL, FreshUser, make_broker, registry

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
