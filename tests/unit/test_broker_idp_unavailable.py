"""Keycloak down, slow or answering nonsense (issue 10): every path where the hub calls Keycloak
for a mint answers ``idp_unavailable`` (503) with ``Retry-After``, never a 500; every one of
those calls is bounded by ``KEYCLOAK_TIMEOUT_SECONDS``.

Keycloak is faked at the HTTP client the code under test uses: respx for the exchange
(httpx), a tornado ``http_client`` for OAuthenticator's calls (the refresh, the login check).
"""

import asyncio
import io
import json
import logging
from types import SimpleNamespace

import httpx
import pytest
import respx
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from hubbroker import KeycloakAuthenticator
from hubbroker.errors import IDP_RETRY_AFTER, BrokerError
from hubbroker.exchange import exchange_token
from hubbroker.handlers import TokenExchangeHandler
from hubbroker.service import SUB_KEY
from stackconf import settings
from tests.support.broker_fakes import (
    TOKEN_URL,
    Clock,
    FakeRefresher,
    FakeUser,
    FreshUser,
    make_broker,
    make_jwt,
    registry,
)
from tokencontract.errors import ERROR_STATUS

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
POLICY = registry("fruit-api", {"fruits:read": "fruit-reader"})
REFRESH_TOKEN = "REFRESH-TOKEN-of-alice"
HUB_CLIENT_SECRET = "hub-login-SECRET"


def assert_no_secret_or_url(error: BrokerError) -> None:
    for text in (error.message, json.dumps(error.to_json())):
        assert REFRESH_TOKEN not in text and HUB_CLIENT_SECRET not in text, text
        assert "://" not in text and "keycloak.test" not in text, text


# --- the error itself -------------------------------------------------------------------------


def test_every_idp_unavailable_carries_retry_after():
    assert IDP_RETRY_AFTER == 5
    assert BrokerError("idp_unavailable", "down").retry_after == IDP_RETRY_AFTER
    assert BrokerError("idp_unavailable", "down", retry_after=9).retry_after == 9
    assert BrokerError("rate_limited", "slow down", retry_after=3).retry_after == 3
    assert BrokerError("hub_unavailable", "db down").retry_after == IDP_RETRY_AFTER
    for code in set(ERROR_STATUS) - {"idp_unavailable", "hub_unavailable", "rate_limited"}:
        assert BrokerError(code, "no").retry_after is None


# --- the token exchange (httpx) -----------------------------------------------------------------


@pytest.fixture
def keycloak():
    with respx.mock(assert_all_called=False) as router:
        yield router.post(TOKEN_URL)


async def exchange(token_url=TOKEN_URL, seconds=5.0):
    async with httpx.AsyncClient(timeout=seconds) as http:
        return await exchange_token(
            http, token_url, "jupyterhub-exchange", "x", "SUBJECT", "fruit-api", ("fruits:read",)
        )


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_exchange_without_an_answer_is_idp_unavailable(keycloak, exc):
    keycloak.side_effect = exc("no answer")
    with pytest.raises(BrokerError) as info:
        await exchange()
    assert (info.value.code, info.value.status) == ("idp_unavailable", 503)
    assert info.value.retry_after == IDP_RETRY_AFTER


async def test_a_keycloak_that_never_answers_is_idp_unavailable_after_the_timeout():
    """A real socket that accepts the request and never answers (Keycloak hung)."""
    hung = asyncio.Event()

    async def never_answer(reader, writer):
        await reader.read(1024)
        await hung.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(BrokerError) as info:
            await exchange(f"http://127.0.0.1:{port}/token", seconds=0.3)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        hung.set()
        server.close()
        await server.wait_closed()
    assert info.value.code == "idp_unavailable"
    assert "ReadTimeout" in info.value.message
    assert 0.3 <= elapsed < 3


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_exchange_busy_or_failing_is_idp_unavailable(keycloak, status):
    keycloak.respond(status, json={"error": "temporarily_unavailable"})
    with pytest.raises(BrokerError) as info:
        await exchange()
    assert info.value.code == "idp_unavailable"
    assert f"HTTP {status}" in info.value.message
    assert info.value.retry_after == IDP_RETRY_AFTER


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "", "expires_in": 300},
        {"access_token": 12, "expires_in": 300},
        {"access_token": "minted", "expires_in": "soon"},
        {"access_token": "minted", "expires_in": None},
        {"access_token": "minted", "expires_in": True},
    ],
    ids=["empty-token", "numeric-token", "text-expiry", "null-expiry", "bool-expiry"],
)
async def test_exchange_answer_that_is_not_a_usable_token_is_idp_unavailable(keycloak, body):
    keycloak.respond(200, json=body)
    with pytest.raises(BrokerError) as info:
        await exchange()
    assert info.value.code == "idp_unavailable"
    assert info.value.retry_after == IDP_RETRY_AFTER


# --- over HTTP: the handler sends Retry-After ------------------------------------------------


class Handler(TokenExchangeHandler):
    """The real handler, the caller fixed (alice, server "default")."""

    async def prepare(self):
        self._jupyterhub_user = FreshUser()

    def _caller(self):
        return self.current_user, "default"


@pytest.fixture
async def hub_url():
    with respx.mock(assert_all_called=False) as router:
        route = router.post(TOKEN_URL)
        async with httpx.AsyncClient() as http:
            broker = make_broker(http, POLICY)
            app = Application(
                [(r"/hub/api/token-exchange", Handler)],
                authenticator=SimpleNamespace(current_broker=lambda: broker, broker=broker),
                db=SimpleNamespace(dirty=[]),
                hub=SimpleNamespace(base_url="/hub/"),
                log=logging.getLogger("test.hubtokens.idp"),
            )
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(app)
            server.add_sockets(sockets)
            url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api/token-exchange"
            yield url, route
            server.stop()


@pytest.mark.parametrize(
    "keycloak_says",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(500, json={"error": "unknown_error"}),
        httpx.Response(200, text="<html>not a token</html>"),
        httpx.Response(200, json={"access_token": "minted", "expires_in": "soon"}),
        httpx.Response(401, json={"error": "invalid_client"}),
    ],
    ids=["refused", "timeout", "503", "500", "200-html", "200-bad-expiry", "client-refused"],
)
async def test_the_broker_answers_503_idp_unavailable_with_retry_after(hub_url, keycloak_says):
    url, route = hub_url
    if isinstance(keycloak_says, Exception):
        route.side_effect = keycloak_says
    else:
        route.return_value = keycloak_says
    response = await AsyncHTTPClient().fetch(
        url,
        method="POST",
        body=json.dumps({"audience": "fruit-api", "scope": "fruits:read"}),
        raise_error=False,
    )
    assert response.code == 503
    body = json.loads(response.body)
    assert set(body) == {"error", "message"} and body["error"] == "idp_unavailable"
    assert response.headers["Retry-After"] == str(IDP_RETRY_AFTER)
    assert response.headers["Content-Type"] == "application/json"
    assert "Traceback" not in response.body.decode()


async def test_a_failed_refresh_before_the_exchange_is_503_with_retry_after():
    """The broker's refresh of the user's Keycloak token (the first Keycloak call of a mint
    whose subject token is near expiry) fails: idp_unavailable, with Retry-After."""
    clock = Clock()
    events = []
    refresher = FakeRefresher(
        events, clock, error=BrokerError("idp_unavailable", "Keycloak could not be reached.")
    )
    async with httpx.AsyncClient() as http:
        broker = make_broker(http, POLICY, refresher=refresher, clock=clock)
        user = FakeUser(
            "alice", {"access_token": make_jwt(clock() + 10), "refresh_token": "r", SUB_KEY: "s"}
        )
        with pytest.raises(BrokerError) as info:
            await broker.mint(user, "", "fruit-api", "fruits:read")
    assert info.value.code == "idp_unavailable"
    assert info.value.retry_after == IDP_RETRY_AFTER
    assert user.saved == []  # nothing saved: the refresh token is kept for the next try


# --- the refresh and the login check (OAuthenticator, tornado) ---------------------------------


class TornadoKeycloak:
    """Stands in for OAuthenticator's ``http_client`` (tornado's AsyncHTTPClient): raises
    ``error`` or answers ``status``/``body``; records the requests."""

    def __init__(self, status=200, body=b"", error=None):
        self.status, self.body, self.error = status, body, error
        self.requests = []

    async def fetch(self, request, raise_error=True, **kwargs):
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        response = HTTPResponse(request, self.status, buffer=io.BytesIO(self.body))
        if self.status >= 400 and raise_error:
            raise HTTPClientError(self.status, None, response)
        return response


def answer(body):
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("IDP_API_REGISTRY", str(settings.REPO / "idp" / "apis.yml"))
    monkeypatch.setenv("KEYCLOAK_INTERNAL_URL", "http://keycloak.test:8080/auth")
    monkeypatch.setenv("KEYCLOAK_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("JUPYTERHUB_CLIENT_SECRET", HUB_CLIENT_SECRET)
    return KeycloakAuthenticator(enable_auth_state=True, username_claim="preferred_username")


async def refresh(hub, keycloak):
    hub.http_client = keycloak
    with pytest.raises(BrokerError) as info:
        await hub.refresh_keycloak_token(REFRESH_TOKEN)
    assert_no_secret_or_url(info.value)
    return info.value


@pytest.mark.parametrize(
    "error",
    [
        HTTPClientError(599, "Timeout while connecting"),
        HTTPClientError(599, "Stream closed"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
    ],
    ids=["599-timeout", "599-closed", "refused", "timeout"],
)
async def test_refresh_without_an_answer_is_idp_unavailable(hub, error):
    error_ = await refresh(hub, TornadoKeycloak(error=error))
    assert (error_.code, error_.retry_after) == ("idp_unavailable", IDP_RETRY_AFTER)
    assert error_.message.startswith("Keycloak could not be reached")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_refresh_answered_with_a_failure_is_idp_unavailable(hub, status):
    error = await refresh(hub, TornadoKeycloak(status, b"<html>upstream failed</html>"))
    assert (error.code, error.retry_after) == ("idp_unavailable", IDP_RETRY_AFTER)
    assert f"HTTP {status}" in error.message


@pytest.mark.parametrize(
    "body",
    [
        b"<html>a proxy's page</html>",
        b"",
        b"[1, 2]",
        {"token_type": "Bearer"},
        {"access_token": 5},
        {"access_token": ""},
        ["access_token"],
    ],
    ids=["html", "empty", "json-list", "no-token", "numeric-token", "empty-token", "list"],
)
async def test_refresh_answer_that_is_not_a_token_is_idp_unavailable(hub, body):
    error = await refresh(hub, TornadoKeycloak(200, answer(body)))
    assert (error.code, error.retry_after) == ("idp_unavailable", IDP_RETRY_AFTER)


@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize("code", ["invalid_client", "unauthorized_client"])
async def test_refresh_refusing_the_hubs_client_is_idp_unavailable(hub, status, code):
    error = await refresh(hub, TornadoKeycloak(status, answer({"error": code})))
    assert error.code == "idp_unavailable"
    assert "client id and secret" in error.message and "hub admin" in error.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": "Token is not active"}),
        (400, b"not json"),
        (401, {"error": "invalid_token"}),
    ],
)
async def test_refresh_refused_for_the_user_is_login_required(hub, status, body):
    error = await refresh(hub, TornadoKeycloak(status, answer(body)))
    assert (error.code, error.retry_after) == ("login_required", None)


async def test_refresh_200_with_an_error_description_is_login_required(hub):
    error = await refresh(hub, TornadoKeycloak(200, answer({"error_description": "expired"})))
    assert error.code == "login_required"


async def test_refresh_returns_the_token_and_is_bounded_by_the_timeout(hub):
    token_info = {"access_token": "fresh", "refresh_token": "r2", "expires_in": 300}
    keycloak = TornadoKeycloak(200, answer(token_info))
    hub.http_client = keycloak
    assert await hub.refresh_keycloak_token(REFRESH_TOKEN) == token_info
    (request,) = keycloak.requests
    assert (request.connect_timeout, request.request_timeout) == (3.0, 3.0)


async def test_a_timeout_set_in_http_request_kwargs_is_kept(hub):
    hub.http_request_kwargs = {"request_timeout": 42.0}
    keycloak = TornadoKeycloak(200, answer({"access_token": "fresh"}))
    hub.http_client = keycloak
    await hub.refresh_keycloak_token(REFRESH_TOKEN)
    (request,) = keycloak.requests
    assert (request.connect_timeout, request.request_timeout) == (3.0, 42.0)


def test_every_call_to_keycloak_is_bounded_by_keycloak_timeout_seconds(hub, monkeypatch):
    assert hub.keycloak_timeout == 3.0
    assert hub.broker.http.timeout == httpx.Timeout(3.0)  # the exchange
    assert hub._jwks.timeout == 3.0  # the realm's keys (back-channel logout)
    monkeypatch.delenv("KEYCLOAK_TIMEOUT_SECONDS")
    assert settings.get_float("KEYCLOAK_TIMEOUT_SECONDS") == 10.0
    assert KeycloakAuthenticator().keycloak_timeout == 10.0


async def test_logout_at_keycloak_is_bounded_by_the_timeout(hub, monkeypatch):
    seen = {}

    class Client(httpx.AsyncClient):
        def __init__(self, **kwargs):
            seen.update(kwargs)
            super().__init__(transport=httpx.MockTransport(lambda r: httpx.Response(204)))

    monkeypatch.setattr(httpx, "AsyncClient", Client)
    await hub.end_keycloak_session(REFRESH_TOKEN)
    assert seen["timeout"] == 3.0


# --- JupyterHub's own login check on the broker's request ---------------------------------------


def session_user():
    return FakeUser(
        "alice",
        {
            "access_token": make_jwt(2_000_000_000, sub="s"),
            "refresh_token": REFRESH_TOKEN,
            "token_response": {
                "access_token": "a",
                "refresh_token": REFRESH_TOKEN,
                "token_type": "Bearer",
            },
            SUB_KEY: "s",
        },
    )


@pytest.mark.parametrize(
    "error",
    [HTTPClientError(599, "Timeout while connecting"), HTTPClientError(503), OSError("down")],
    ids=["599", "503", "oserror"],
)
async def test_a_login_check_keycloak_cannot_answer_keeps_the_session(hub, error, caplog):
    """JupyterHub checks the login (refresh_user) before the broker's handler runs: with
    Keycloak down that check raised, JupyterHub logged a traceback and took the caller for
    anonymous, and the broker said login_required. Now the session stays until the next
    check, and the mint itself says idp_unavailable."""
    keycloak = TornadoKeycloak(error=error)
    hub.http_client = keycloak
    alice = session_user()
    with caplog.at_level(logging.WARNING):
        assert await hub.refresh_user(alice) is True
    assert keycloak.requests  # Keycloak was asked (userinfo)
    assert alice.saved == [] and hub.broker.epoch("alice") == 0
    assert "Keycloak did not answer the login check of alice" in caplog.text
    assert REFRESH_TOKEN not in caplog.text


async def test_a_login_check_failing_otherwise_still_raises(hub, monkeypatch):
    async def broken(token_info):
        raise RuntimeError("a bug, not Keycloak")

    monkeypatch.setattr(hub, "token_to_user", broken)
    with pytest.raises(RuntimeError):
        await hub.refresh_user(session_user())


async def test_a_login_check_refused_by_keycloak_still_refreshes(hub):
    """A 4xx from userinfo (token expired) still leads to OAuthenticator's refresh."""
    keycloak = TornadoKeycloak(401, answer({"error": "invalid_token"}))
    hub.http_client = keycloak
    assert await hub.refresh_user(session_user()) is False  # the refresh is refused too
    assert len(keycloak.requests) == 2  # userinfo, then the token endpoint
