"""TokenClient against a fake broker (httpx.MockTransport): cache, scopes, errors, threads."""

import json
import threading

import httpx
import pytest

import hubtokens
from hubtokens import TokenClient, errors
from tests.support.contract import BROKER_ERRORS
from tests.support.hubtokens_fakes import API_TOKEN, HUB, LISTING, FakeBroker, fast, make_client


@pytest.fixture
def broker():
    return FakeBroker()


def test_get_posts_the_contract_body_and_returns_a_token(broker):
    token = make_client(broker).get("fruit-api", "fruits:read fruits:exotic")
    (sent,) = broker.requests
    assert sent.method == "POST"
    assert json.loads(sent.content) == {
        "audience": "fruit-api",
        "scope": "fruits:exotic fruits:read",
    }
    assert token.audience == "fruit-api"
    assert token.scopes == {"fruits:read", "fruits:exotic"}
    assert 298 < token.expires_in <= 300
    assert token.claims["aud"] == "fruit-api"


def test_no_scope_sends_no_scope(broker):
    make_client(broker).get("fruit-api")
    assert json.loads(broker.requests[0].content) == {"audience": "fruit-api"}


def test_cache_hit_makes_no_request(broker):
    client = make_client(broker)
    first = client.get("fruit-api", "fruits:read")
    for _ in range(5):
        assert client.get("fruit-api", "fruits:read") is first
    assert len(broker.requests) == 1


def test_different_keys_are_cached_separately(broker):
    client = make_client(broker)
    a = client.get("fruit-api", "fruits:read")
    b = client.get("fruit-api", "fruits:exotic")
    c = client.get("other-api", "fruits:read")
    assert len({a.value, b.value, c.value}) == 3
    assert len(broker.requests) == 3


def test_refetches_near_expiry():
    broker = FakeBroker(expires_in=20)  # less than the 30 s cache margin
    client = make_client(broker)
    first = client.get("fruit-api", "fruits:read")
    second = client.get("fruit-api", "fruits:read")
    assert first.value != second.value
    assert len(broker.requests) == 2


def test_cache_margin_is_configurable():
    broker = FakeBroker(expires_in=20)
    client = make_client(broker, cache_margin=10)
    client.get("fruit-api")
    client.get("fruit-api")
    assert len(broker.requests) == 1


@pytest.mark.parametrize(
    "other",
    [
        "fruits:exotic fruits:read",
        ["fruits:read", "fruits:exotic"],
        ("fruits:exotic", "fruits:read", "fruits:read"),
        "  fruits:read\tfruits:exotic ",
        ["fruits:read fruits:exotic"],
    ],
)
def test_scope_normalization_shares_a_cache_entry(broker, other):
    client = make_client(broker)
    first = client.get("fruit-api", "fruits:read fruits:exotic")
    assert client.get("fruit-api", other) is first
    assert len(broker.requests) == 1


@pytest.mark.parametrize("scope", [["fruits:read", 3], 5, {"fruits:read"}])
def test_a_bad_scope_is_invalid_request_without_a_request(broker, scope):
    client = make_client(broker)
    with pytest.raises(hubtokens.InvalidRequest, match="space-separated string or a list"):
        client.get("fruit-api", scope)
    assert broker.requests == []


def test_clear_and_invalidate(broker):
    client = make_client(broker)
    token = client.get("fruit-api", "a")
    client.invalidate("fruit-api", "a", token=client.get("fruit-api", "b"))  # not the cached one
    assert client.get("fruit-api", "a") is token
    client.invalidate("fruit-api", "a", token=token)
    assert client.get("fruit-api", "a") is not token
    client.clear()
    client.get("fruit-api", "a")
    client.get("fruit-api", "b")
    assert len(broker.posts()) == 5


def test_available_returns_the_listing(broker):
    listing = make_client(broker).available()
    assert listing == LISTING
    assert broker.requests[0].method == "GET"


@pytest.mark.parametrize(("code", "status", "cls"), BROKER_ERRORS)
def test_broker_errors_raise_their_exception(broker, code, status, cls):
    broker.error = (status, json.dumps({"error": code, "message": f"{code} happened"}).encode())
    with pytest.raises(cls) as info:
        make_client(broker).get("fruit-api", "fruits:write")
    assert info.value.status == status and info.value.message.startswith(f"{code} happened")
    if status == 503:  # retried (Keycloak or the hub may come back), then the same error
        assert len(broker.requests) > 1 and "Gave up after" in info.value.message
    else:  # asking again would get the same answer
        assert len(broker.requests) == 1 and info.value.message == f"{code} happened"


def test_rate_limited_raises_with_the_hubs_retry_after():
    def answer(request):
        return httpx.Response(
            429,
            headers={"Retry-After": "9"},
            json={"error": "rate_limited", "message": "too many new tokens: retry in 9 s."},
        )

    client = fast(
        TokenClient(HUB, API_TOKEN, http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    )
    with pytest.raises(errors.RateLimited) as info:
        client.get("fruit-api", "fruits:read")
    assert info.value.retry_after == 9
    assert info.value.status == 429
    assert "retry in 9 s" in str(info.value)


def test_errors_are_not_cached(broker):
    client = make_client(broker)
    broker.error = (503, b'{"error": "idp_unavailable", "message": "down"}')
    with pytest.raises(hubtokens.IdpUnavailable):
        client.get("fruit-api")
    broker.error = None
    assert client.get("fruit-api").audience == "fruit-api"


@pytest.mark.parametrize("status", [500, 502])
def test_non_json_error_body(broker, status):
    broker.error = (status, b"Bad Gateway")
    with pytest.raises(hubtokens.HubTokensError) as info:
        make_client(broker).get("fruit-api")
    assert type(info.value) is hubtokens.HubTokensError and info.value.status == status


def test_missing_env_raises_not_in_jupyterhub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    hubtokens.clear_cache()
    with pytest.raises(hubtokens.NotInJupyterHub, match="JUPYTERHUB_API_URL/JUPYTERHUB_API_TOKEN"):
        hubtokens.get("fruit-api")
    monkeypatch.setenv("JUPYTERHUB_API_URL", HUB)
    with pytest.raises(hubtokens.NotInJupyterHub):
        TokenClient()


def test_env_configures_the_default_client(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_URL", HUB + "/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", API_TOKEN)
    client = TokenClient()
    assert client.url == f"{HUB}/token-exchange"
    assert API_TOKEN not in repr(client)


def test_connection_error_raises_broker_unreachable_without_the_token():
    def refuse(request):
        raise httpx.ConnectError(f"refused while sending {request.headers['Authorization']}")

    client = fast(
        TokenClient(HUB, API_TOKEN, http_client=httpx.Client(transport=httpx.MockTransport(refuse)))
    )
    with pytest.raises(hubtokens.BrokerUnreachable) as info:
        client.get("fruit-api")
    text = str(info.value)
    assert f"{HUB}/token-exchange" in text
    assert API_TOKEN not in text and API_TOKEN not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_real_connection_refused_raises_broker_unreachable():
    client = fast(TokenClient("http://127.0.0.1:9/hub/api", API_TOKEN, timeout=2))
    with pytest.raises(hubtokens.BrokerUnreachable, match="127.0.0.1:9") as info:
        client.get("fruit-api")
    assert "the hub is down or restarting" in str(info.value)


def test_ten_threads_on_a_cold_cache_cause_one_fetch():
    broker = FakeBroker(delay=0.2)
    client = make_client(broker)
    barrier = threading.Barrier(10)
    results = []

    def worker():
        barrier.wait()
        results.append(client.get("fruit-api", "fruits:read"))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(broker.requests) == 1
    assert len(results) == 10 and len({r.value for r in results}) == 1


def test_module_level_functions_use_a_default_client(monkeypatch, broker):
    monkeypatch.setenv("JUPYTERHUB_API_URL", HUB)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", API_TOKEN)
    real_client = httpx.Client
    monkeypatch.setattr(
        httpx, "Client", lambda **kw: real_client(transport=httpx.MockTransport(broker), **kw)
    )
    hubtokens.clear_cache()
    try:
        first = hubtokens.get("fruit-api", "fruits:read")
        assert hubtokens.get("fruit-api", ["fruits:read"]) is first
        assert "audiences" in hubtokens.available()
        hubtokens.clear_cache()
        assert hubtokens.get("fruit-api", "fruits:read") is not first
        assert len(broker.posts()) == 2
    finally:
        hubtokens.clear_cache()
