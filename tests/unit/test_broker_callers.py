"""Who may call the broker (review item 2): a running server's own token, from that server.

The rules (``hubbroker.callers``) with plain fakes, and the real handler over HTTP with
JupyterHub's token lookup replaced by fakes: a user-made token, a browser session, a stopped
server's token and a server's token sent from another address are refused."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import httpx
import pytest
import respx
from jupyterhub.utils import compare_token, hash_token
from sqlalchemy.exc import OperationalError
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from hubbroker.callers import ONLY_SERVERS_MINT, addresses_of, calling_server, check_peer
from hubbroker.errors import BrokerError
from hubbroker.handlers import TOKEN_EXCHANGE_SCOPE, TokenExchangeHandler
from tests.support.broker_fakes import TOKEN_URL, FreshUser, make_broker, registry

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def spawner(token: str | None, active: bool = True, ip: str = "10.0.0.5") -> SimpleNamespace:
    return SimpleNamespace(api_token=token, active=active, server=SimpleNamespace(ip=ip))


SPAWNERS = {"": spawner("server-secret"), "gpu": spawner("gpu-secret", ip="10.0.0.6")}


def test_a_servers_own_token_names_its_server() -> None:
    assert calling_server("server-secret".__eq__, SPAWNERS)[0] == "default"
    assert calling_server("gpu-secret".__eq__, SPAWNERS)[0] == "gpu"


@pytest.mark.parametrize(
    "spawners",
    [SPAWNERS, {"": spawner("server-secret", active=False)}, {"": spawner(None)}, {}],
    ids=["user-made token", "stopped server", "server without token", "no server"],
)
def test_a_token_of_no_running_server_is_refused(spawners) -> None:
    with pytest.raises(BrokerError) as refused:
        calling_server("made-on-the-token-page".__eq__ if spawners is SPAWNERS else bool, spawners)
    assert refused.value.code == "forbidden"
    assert "server's own token" in refused.value.message


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("127.0.0.1", ""),
        ("::1", "localhost"),
        ("127.0.0.1", "0.0.0.0"),  # noqa: S104 (a server bound to all interfaces)
        ("127.0.0.1", "localhost"),
    ],
)
def test_a_request_from_the_servers_address_passes(peer: str, host: str) -> None:
    check_peer(peer, "default", host)


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("10.0.0.7", "10.0.0.5"),  # another user's container
        ("10.0.0.2", "10.0.0.5"),  # Traefik, i.e. through the public entrypoint
        ("127.0.0.1", "10.0.0.5"),
        ("10.0.0.5", None),  # the server has no address (starting)
        ("10.0.0.5", "no-such-host.invalid"),
    ],
)
def test_a_request_from_elsewhere_is_refused(peer: str, host: str | None) -> None:
    with pytest.raises(BrokerError) as refused:
        check_peer(peer, "default", host)
    assert refused.value.code == "forbidden"
    assert "from inside its server" in refused.value.message


def test_a_host_name_is_resolved() -> None:
    assert addresses_of("localhost") >= {"127.0.0.1"}
    assert addresses_of("127.0.0.1") == {"127.0.0.1"}


# --- the real handler, with JupyterHub's token lookup replaced ------------------------------


class Token:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def match(self, other: str) -> bool:
        return other == self.secret


class Handler(TokenExchangeHandler):
    """The real ``_caller``: the test names the calling token (X-Test-Token: a secret, or
    "session" for a browser cookie) and where alice's server runs (X-Test-Server-Ip)."""

    async def prepare(self):
        server_ip = self.request.headers.get("X-Test-Server-Ip", "127.0.0.1")
        self._jupyterhub_user = FreshUser({"": spawner("server-secret", ip=server_ip)})
        self.parsed_scopes = {TOKEN_EXCHANGE_SCOPE}
        if self.request.headers.get("X-Test-Db") == "down at auth":
            # what JupyterHub's prepare() leaves when its token lookup hit a database error
            self._hub_database_failed, self._jupyterhub_user = True, None

    def _caller(self):
        if self.request.headers.get("X-Test-Db") == "down in the handler":
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return super()._caller()

    def get_token(self):
        secret = self.request.headers.get("X-Test-Token", "session")
        return None if secret == "session" else Token(secret)


@pytest.fixture
async def hub():
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(
            return_value=httpx.Response(
                200, json={"access_token": "MINTED", "expires_in": 300, "scope": "fruits:read"}
            )
        )
        async with httpx.AsyncClient() as http:
            broker = make_broker(http, registry("fruit-api", {"fruits:read": "fruit-reader"}))
            authenticator = SimpleNamespace(
                current_broker=lambda: broker, broker=broker, check_caller_address=True
            )
            app = Application(
                [(r"/hub/api/token-exchange", Handler)],
                authenticator=authenticator,
                db=SimpleNamespace(dirty=[], rollback=lambda: None),
                hub=SimpleNamespace(base_url="/hub/"),
                log=logging.getLogger("test.hubtokens.callers"),
            )
            sockets = bind_sockets(0, "127.0.0.1")
            server = HTTPServer(app, xheaders=True)  # as JupyterHub runs it
            server.add_sockets(sockets)
            yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api/token-exchange"
            server.stop()


async def mint(url: str, **headers: str):
    body = json.dumps({"audience": "fruit-api", "scope": "fruits:read"})
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return await AsyncHTTPClient().fetch(
        url, method="POST", body=body, headers=headers, raise_error=False
    )


async def test_the_servers_token_from_the_server_mints(hub) -> None:
    response = await mint(hub, X_Test_Token="server-secret")
    assert response.code == 200, response.body
    assert json.loads(response.body)["access_token"] == "MINTED"


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X_Test_Token": "made-on-the-token-page"}, ONLY_SERVERS_MINT),
        ({"X_Test_Token": "session"}, ONLY_SERVERS_MINT),
        ({"X_Test_Token": "server-secret", "X_Test_Server_Ip": "10.0.0.5"}, "from inside"),
        # A forged X-Forwarded-For does not stand in for the connection's address.
        (
            {
                "X_Test_Token": "server-secret",
                "X_Test_Server_Ip": "10.0.0.5",
                "X_Forwarded_For": "10.0.0.5",
                "X_Real_Ip": "10.0.0.5",
            },
            "from inside",
        ),
    ],
    ids=["user-made token", "browser session", "copied server token", "forged forwarded-for"],
)
async def test_every_other_caller_is_refused(hub, headers, says) -> None:
    response = await mint(hub, **headers)
    assert response.code == 403, response.body
    body = json.loads(response.body)
    assert body["error"] == "forbidden" and says in body["message"]


async def test_delete_forgets_the_calling_servers_tokens(hub) -> None:
    assert (await mint(hub, X_Test_Token="server-secret")).code == 200
    forget = await AsyncHTTPClient().fetch(
        hub, method="DELETE", headers={"X-Test-Token": "server-secret"}, raise_error=False
    )
    assert forget.code == 200, forget.body
    assert json.loads(forget.body) == {"forgotten": 1}
    again = await AsyncHTTPClient().fetch(
        hub, method="DELETE", headers={"X-Test-Token": "server-secret"}, raise_error=False
    )
    assert json.loads(again.body) == {"forgotten": 0}
    refused = await AsyncHTTPClient().fetch(
        hub, method="DELETE", headers={"X-Test-Token": "made-on-the-token-page"}, raise_error=False
    )
    assert refused.code == 403


def restarted(hashed_secret: str | None) -> SimpleNamespace:
    """A running server as JupyterHub holds it after a restart: no token in memory, its OAuth
    client's secret (the same token, at spawn) hashed in the database."""
    client = SimpleNamespace(secret=hashed_secret) if hashed_secret is not None else None
    server = spawner(None)
    server.orm_spawner = SimpleNamespace(oauth_client=client)
    return server


def test_after_a_hub_restart_a_server_is_known_by_its_oauth_client() -> None:
    server = restarted(hash_token("server-secret"))
    found = calling_server(bool, {"": server}, "server-secret", compare_token)
    assert found == ("default", server)
    assert server.api_token == "server-secret"  # held again: no hash on the next call
    assert calling_server("server-secret".__eq__, {"": server})[0] == "default"


@pytest.mark.parametrize(
    ("presented", "hashed"),
    [("made-on-the-token-page", "server-secret"), ("server-secret", None), ("", "server-secret")],
    ids=["another token", "no OAuth client", "no token"],
)
def test_after_a_hub_restart_other_tokens_are_still_refused(presented, hashed) -> None:
    server = restarted(hash_token(hashed) if hashed else None)
    with pytest.raises(BrokerError) as refused:
        calling_server(bool, {"": server}, presented, compare_token)
    assert refused.value.code == "forbidden"
    assert server.api_token is None


@pytest.mark.parametrize("where", ["down at auth", "down in the handler"])
async def test_the_hubs_database_down_is_hub_unavailable_not_login_required(hub, where) -> None:
    """JupyterHub treats a caller whose token lookup failed on the database as anonymous;
    the broker says the hub is unavailable (retry), never "log in again", never a 500."""
    for method in ("POST", "GET", "DELETE"):
        response = await AsyncHTTPClient().fetch(
            hub,
            method=method,
            body=b"{}" if method == "POST" else None,
            headers={"X-Test-Token": "server-secret", "X-Test-Db": where},
            raise_error=False,
        )
        assert response.code == 503, (method, response.body)
        assert json.loads(response.body)["error"] == "hub_unavailable"
        assert response.headers["Retry-After"] == "5"
