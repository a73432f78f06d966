"""HubTokenAuth with httpx and requests: sets the Bearer header, retries once on 401."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests
from requests.adapters import BaseAdapter

from hubtokens import AccessToken, HubTokenAuth


class FakeTokenClient:
    """Stands in for TokenClient: hands out tok-1, tok-2, ... and records invalidations."""

    def __init__(self, same_token_after_invalidate=False):
        self.fetches = 0
        self.cached: AccessToken | None = None
        self.invalidated: list[str] = []
        self.same = same_token_after_invalidate
        self.calls: list[tuple[str, str]] = []

    def get(self, audience, scope=None):
        self.calls.append((audience, scope))
        if self.cached is None:
            self.fetches += 1
            n = 1 if self.same else self.fetches
            self.cached = AccessToken(
                value=f"tok-{n}",
                audience=audience,
                scope=scope or "",
                expires_at=datetime.now(UTC) + timedelta(minutes=5),
            )
        return self.cached

    def invalidate(self, audience, scope=None, token=None):
        if token is None or token == self.cached:
            self.invalidated.append(token.value if token else "*")
            self.cached = None


class FakeApi:
    """Accepts only the tokens in ``valid``; records the Authorization header of each call."""

    def __init__(self, valid):
        self.valid = set(valid)
        self.seen: list[str | None] = []

    def answer(self, authorization):
        self.seen.append(authorization)
        if authorization in {f"Bearer {v}" for v in self.valid}:
            return 200, {"fruits": ["apple"]}
        return 401, {"detail": "invalid token"}

    def httpx_handler(self, request):
        status, body = self.answer(request.headers.get("Authorization"))
        return httpx.Response(status, json=body)


class FakeAdapter(BaseAdapter):
    """A requests adapter answering from FakeApi; sets .connection like HTTPAdapter."""

    def __init__(self, api):
        super().__init__()
        self.api = api
        self.sent_kwargs = []

    def send(self, request, **kwargs):
        self.sent_kwargs.append(kwargs)
        status, body = self.api.answer(request.headers.get("Authorization"))
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.request = request
        response.url = request.url
        response.connection = self
        return response

    def close(self):
        pass


def test_one_object_serves_both_libraries():
    auth = HubTokenAuth("fruit-api", "fruits:read", client=FakeTokenClient())
    assert isinstance(auth, httpx.Auth) and callable(auth)


# -- httpx ------------------------------------------------------------------------------


def test_httpx_sets_bearer_header():
    api, tokens = FakeApi({"tok-1"}), FakeTokenClient()
    auth = HubTokenAuth("fruit-api", ["fruits:read"], client=tokens)
    with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
        assert http.get("https://api.test/fruits").status_code == 200
        assert http.get("https://api.test/fruits").status_code == 200
    assert api.seen == ["Bearer tok-1", "Bearer tok-1"]
    assert tokens.fetches == 1 and tokens.calls[0] == ("fruit-api", "fruits:read")


def test_httpx_retries_once_on_401_with_a_new_token():
    api, tokens = FakeApi({"tok-2"}), FakeTokenClient()
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
        response = http.get("https://api.test/fruits")
    assert response.status_code == 200
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.invalidated == ["tok-1"]
    assert len(response.history) == 1 and response.history[0].status_code == 401


def test_httpx_retries_only_once():
    api, tokens = FakeApi(set()), FakeTokenClient()
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
        response = http.get("https://api.test/fruits")
    assert response.status_code == 401
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]


def test_httpx_no_retry_when_broker_returns_the_same_token():
    api, tokens = FakeApi(set()), FakeTokenClient(same_token_after_invalidate=True)
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
        assert http.get("https://api.test/fruits").status_code == 401
    assert api.seen == ["Bearer tok-1"]


def test_httpx_picks_up_renewed_tokens_without_rerunning():
    api, tokens = FakeApi({"tok-1", "tok-2"}), FakeTokenClient()
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
        http.get("https://api.test/fruits")
        tokens.cached = None  # the cache renewed the token (e.g. near expiry)
        http.get("https://api.test/fruits")
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]


async def test_httpx_async_retries_once_on_401():
    api, tokens = FakeApi({"tok-2"}), FakeTokenClient()
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    transport = httpx.MockTransport(api.httpx_handler)
    async with httpx.AsyncClient(transport=transport, auth=auth) as http:
        response = await http.get("https://api.test/fruits")
    assert response.status_code == 200
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]


# -- requests ---------------------------------------------------------------------------


def requests_session(api):
    session = requests.Session()
    adapter = FakeAdapter(api)
    session.mount("https://", adapter)
    return session, adapter


def test_requests_sets_bearer_header():
    api, tokens = FakeApi({"tok-1"}), FakeTokenClient()
    session, _ = requests_session(api)
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    assert session.get("https://api.test/fruits", auth=auth).json() == {"fruits": ["apple"]}
    assert api.seen == ["Bearer tok-1"]


def test_requests_retries_once_on_401_with_a_new_token():
    api, tokens = FakeApi({"tok-2"}), FakeTokenClient()
    session, adapter = requests_session(api)
    auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    response = session.get("https://api.test/fruits", auth=auth, timeout=7)
    assert response.status_code == 200
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]
    assert tokens.invalidated == ["tok-1"]
    assert [r.status_code for r in response.history] == [401]
    assert response.request.headers["Authorization"] == "Bearer tok-2"
    assert adapter.sent_kwargs[1]["timeout"] == 7  # the retry keeps the caller's settings


def test_requests_retries_only_once():
    api, tokens = FakeApi(set()), FakeTokenClient()
    session, _ = requests_session(api)
    response = session.get(
        "https://api.test/fruits", auth=HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    )
    assert response.status_code == 401
    assert api.seen == ["Bearer tok-1", "Bearer tok-2"]


def test_requests_as_session_auth():
    api, tokens = FakeApi({"tok-2"}), FakeTokenClient()
    session, _ = requests_session(api)
    session.auth = HubTokenAuth("fruit-api", "fruits:read", client=tokens)
    assert session.get("https://api.test/a").status_code == 200
    assert session.get("https://api.test/b").status_code == 200
    assert api.seen == ["Bearer tok-1", "Bearer tok-2", "Bearer tok-2"]


def test_repr_does_not_touch_tokens():
    tokens = FakeTokenClient()
    auth = HubTokenAuth("fruit-api", "b a", client=tokens)
    assert repr(auth) == "<HubTokenAuth audience='fruit-api' scope='a b'>"
    assert tokens.fetches == 0


@pytest.mark.parametrize("lib", ["httpx", "requests"])
def test_works_with_a_real_token_client(lib):
    """End to end over our own code: TokenClient (fake broker) -> HubTokenAuth -> fake API."""
    from hubtokens import TokenClient

    minted = iter(["real-1", "real-2"])

    def broker(request):
        return httpx.Response(
            200,
            json={
                "access_token": next(minted),
                "expires_in": 300,
                "audience": "fruit-api",
                "scope": "fruits:read",
            },
        )

    client = TokenClient(
        "http://hub.test/hub/api",
        "api-token",
        http_client=httpx.Client(transport=httpx.MockTransport(broker)),
    )
    api = FakeApi({"real-2"})
    auth = HubTokenAuth("fruit-api", "fruits:read", client=client)
    if lib == "httpx":
        with httpx.Client(transport=httpx.MockTransport(api.httpx_handler), auth=auth) as http:
            status = http.get("https://api.test/fruits").status_code
    else:
        session, _ = requests_session(api)
        status = session.get("https://api.test/fruits", auth=auth).status_code
    assert status == 200
    assert api.seen == ["Bearer real-1", "Bearer real-2"]
