"""TokenClient retries (issue 10): what is retried, the backoff, Retry-After, the budget, and
what the error says when the client gives up. Against a fake broker (httpx.MockTransport), in
virtual time: a sleep advances the client's clock and takes no time."""

import json
import threading
import time

import httpx
import pytest

import hubtokens
from hubtokens import TokenClient
from hubtokens.client import DEFAULT_RETRY_SECONDS, retryable
from tests.support.contract import BROKER_ERRORS

HUB = "http://hub.test:8081/hub/api"
API_TOKEN = "jupyterhub-api-token-SECRET-456"
MINTED = {
    "access_token": "MINTED",
    "token_type": "Bearer",
    "expires_in": 300,
    "audience": "fruit-api",
    "scope": "fruits:read",
}
LISTING = {"audiences": {}}


class VirtualTime:
    """The client's clock and sleep: ``sleep`` records the wait and advances ``now``."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self):
        return self.now

    def sleep(self, seconds):
        with self._lock:
            self.sleeps.append(float(seconds))
            self.now += float(seconds)


def refused(request):
    raise httpx.ConnectError(f"connection refused ({request.headers['Authorization']})")


def read_timeout(request):
    raise httpx.ReadTimeout("timed out")


def answer(status, body=None, headers=None, text=None):
    def respond(request):
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return respond


def idp_down(retry_after=None):
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = {"error": "idp_unavailable", "message": "Keycloak could not be reached (ConnectError)."}
    return answer(503, body, headers)


def minted(request):
    return httpx.Response(200, json=MINTED if request.method == "POST" else LISTING)


class Broker:
    """Answers each request with the next of ``script`` (a handler), then repeats the last;
    records the requests. ``cost``: virtual seconds each request takes."""

    def __init__(self, time_, *script, cost=0.0):
        self.time = time_
        self.script = list(script)
        self.cost = cost
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        self.time.now += self.cost
        handler = self.script[min(len(self.requests), len(self.script)) - 1]
        return handler(request)


def client_for(broker, **kwargs):
    client = TokenClient(
        HUB,
        API_TOKEN,
        http_client=httpx.Client(transport=httpx.MockTransport(broker)),
        **kwargs,
    )
    client._clock, client._sleep = broker.time.clock, broker.time.sleep
    return client


@pytest.fixture
def vt():
    return VirtualTime()


# --- what is retried ----------------------------------------------------------------------


def test_retries_each_transient_failure_then_returns_the_token(vt):
    broker = Broker(
        vt,
        refused,
        read_timeout,
        answer(502, text="Bad Gateway"),
        idp_down(),
        answer(504, text="Gateway Timeout"),
        answer(503, text="Service Unavailable"),
        minted,
    )
    token = client_for(broker).get("fruit-api", "fruits:read")
    assert token.value == "MINTED"
    assert len(broker.requests) == 7
    assert all(r.method == "POST" for r in broker.requests)
    assert len(vt.sleeps) == 6


def test_the_listing_is_retried_too(vt):
    broker = Broker(vt, refused, idp_down(), minted)
    assert client_for(broker).available() == LISTING
    assert [r.method for r in broker.requests] == ["GET"] * 3


def test_a_delete_is_retried_too(vt):
    """The client has no DELETE call of its own yet: every method goes through one
    retrying request (forgetting a cache twice forgets it once)."""
    broker = Broker(vt, refused, answer(200, {"forgotten": 2}))
    assert client_for(broker)._request("DELETE") == {"forgotten": 2}
    assert [r.method for r in broker.requests] == ["DELETE"] * 2


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [e for e in BROKER_ERRORS if e[0] not in ("idp_unavailable", "hub_unavailable")],
)
def test_no_retry_on_the_other_error_codes(vt, code, status, cls):
    body = {"error": code, "message": f"{code} happened"}
    broker = Broker(vt, answer(status, body, {"Retry-After": "3"}), minted)
    with pytest.raises(cls) as info:
        client_for(broker).get("fruit-api", "fruits:read")
    assert len(broker.requests) == 1 and vt.sleeps == []
    assert info.value.message == f"{code} happened"  # not extended: nothing was retried


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 501])
def test_no_retry_on_other_statuses_without_a_code(vt, status):
    broker = Broker(vt, answer(status, text="<html>nope</html>"), minted)
    with pytest.raises(hubtokens.HubTokensError) as info:
        client_for(broker).get("fruit-api")
    assert info.value.status == status
    assert len(broker.requests) == 1


def test_a_200_that_is_not_a_token_is_not_retried(vt):
    broker = Broker(vt, answer(200, text="<html>login page</html>"), minted)
    with pytest.raises(hubtokens.HubTokensError, match="not a JSON object"):
        client_for(broker).get("fruit-api")
    assert len(broker.requests) == 1


def test_retryable():
    assert retryable(hubtokens.BrokerUnreachable())
    assert retryable(hubtokens.IdpUnavailable(status=503))
    assert retryable(hubtokens.HubTokensError("proxy", status=502))
    assert not retryable(hubtokens.RateLimited(retry_after=3))
    assert not retryable(hubtokens.HubTokensError("internal", status=500))
    assert not retryable(hubtokens.NotInJupyterHub())
    assert not retryable(ValueError("not ours"))


# --- backoff, Retry-After, budget ----------------------------------------------------------


def test_backoff_is_exponential_with_jitter_and_capped(vt):
    broker = Broker(vt, refused)
    with pytest.raises(hubtokens.BrokerUnreachable):
        client_for(broker, retry_seconds=60).get("fruit-api")
    waits = vt.sleeps[:-1]  # the last one is cut to what was left of the budget
    bases = [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(waits) >= len(bases)
    for wait, base in zip(waits, bases + [5.0] * len(waits), strict=False):
        assert base <= wait <= base + 0.5
    assert len(set(waits)) > 1


def test_jitter_differs_between_clients():
    runs = []
    for _ in range(2):
        vt = VirtualTime()
        with pytest.raises(hubtokens.BrokerUnreachable):
            client_for(Broker(vt, refused), retry_seconds=10).get("fruit-api")
        runs.append(vt.sleeps)
    assert runs[0] != runs[1]


def test_idp_unavailable_waits_its_retry_after(vt):
    broker = Broker(vt, idp_down(retry_after=7), minted)
    assert client_for(broker).get("fruit-api").value == "MINTED"
    assert len(vt.sleeps) == 1 and vt.sleeps[0] >= 7
    assert vt.sleeps[0] <= 7.5  # the backoff's first step is shorter: Retry-After wins


def test_retry_after_is_cut_to_the_remaining_budget(vt):
    broker = Broker(vt, idp_down(retry_after=30))
    with pytest.raises(hubtokens.IdpUnavailable) as info:
        client_for(broker, retry_seconds=4).get("fruit-api")
    assert vt.sleeps == [4.0]  # one wait, to the end of the budget, then a last attempt
    assert len(broker.requests) == 2
    assert info.value.retry_after == 30


def test_the_budget_bounds_the_time_spent(vt):
    broker = Broker(vt, refused, cost=3.0)  # each attempt takes 3 s (e.g. a connect timeout)
    start = vt.now
    with pytest.raises(hubtokens.BrokerUnreachable) as info:
        client_for(broker, retry_seconds=10).get("fruit-api")
    elapsed = vt.now - start
    assert 10 <= elapsed <= 10 + 3.0  # the budget, plus at most one attempt begun before its end
    assert sum(vt.sleeps) <= 10
    attempts = len(broker.requests)
    assert f"Gave up after {attempts} attempts over {elapsed:.1f} s" in str(info.value)


def test_the_default_budget_is_twenty_seconds(vt):
    broker = Broker(vt, refused)
    client = client_for(broker)
    assert client.retry_seconds == DEFAULT_RETRY_SECONDS == 20.0
    with pytest.raises(hubtokens.BrokerUnreachable, match=r"over 20\.0 s"):
        client.get("fruit-api")
    assert sum(vt.sleeps) == pytest.approx(20.0)
    assert 5 <= len(broker.requests) <= 9


def test_an_attempt_longer_than_the_budget_is_not_repeated(vt):
    broker = Broker(vt, read_timeout, minted, cost=30.0)
    with pytest.raises(hubtokens.BrokerUnreachable, match="Gave up after 1 attempt over 30.0 s"):
        client_for(broker).get("fruit-api")
    assert len(broker.requests) == 1 and vt.sleeps == []


@pytest.mark.parametrize("handler", [refused, idp_down(5), answer(502, text="Bad Gateway")])
def test_retry_seconds_zero_makes_one_attempt(vt, handler):
    broker = Broker(vt, handler, minted)
    with pytest.raises(hubtokens.HubTokensError) as info:
        client_for(broker, retry_seconds=0).get("fruit-api")
    assert len(broker.requests) == 1 and vt.sleeps == []
    assert "Gave up" not in str(info.value) and info.value.attempts == 1


def test_a_real_refused_connection_within_a_real_budget():
    """Real sockets, real sleeps: retried for the budget, then raised (the budget is small
    here; the default is 20 s)."""
    client = TokenClient("http://127.0.0.1:9/hub/api", API_TOKEN, timeout=2, retry_seconds=0.8)
    start = time.monotonic()
    with pytest.raises(hubtokens.BrokerUnreachable, match="Gave up after") as info:
        client.get("fruit-api")
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed < 3.0
    assert "attempts" in str(info.value)


# --- what the error says when the client gives up -------------------------------------------


def test_exhausted_hub_says_the_hub_is_down_and_what_to_do(vt):
    broker = Broker(vt, refused)
    with pytest.raises(hubtokens.BrokerUnreachable) as info:
        client_for(broker).get("fruit-api")
    text = str(info.value)
    assert f"Could not reach the hub's token broker at {HUB}/token-exchange" in text
    assert f"Gave up after {len(broker.requests)} attempts over 20.0 s" in text
    assert "the hub is down or restarting" in text
    assert "re-run this cell" in text and "hub admin" in text
    assert API_TOKEN not in text and API_TOKEN not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert info.value._render_traceback_() == [f"BrokerUnreachable: {text}"]


@pytest.mark.parametrize("status", [502, 504])
def test_exhausted_proxy_errors_name_the_hub(vt, status):
    broker = Broker(vt, answer(status, text="<html>Bad Gateway</html>"))
    with pytest.raises(hubtokens.HubTokensError) as info:
        client_for(broker).get("fruit-api")
    assert type(info.value) is hubtokens.HubTokensError and info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert "the hub is down or restarting" in str(info.value)


def test_exhausted_idp_says_keycloak_is_down_and_what_to_do(vt):
    broker = Broker(vt, idp_down(retry_after=5))
    with pytest.raises(hubtokens.IdpUnavailable) as info:
        client_for(broker).get("fruit-api")
    error = info.value
    assert (error.code, error.status, error.retry_after) == ("idp_unavailable", 503, 5)
    text = str(error)
    assert text.startswith("Keycloak could not be reached (ConnectError).")
    assert f"Gave up after {len(broker.requests)} attempts over 20.0 s" in text
    assert error.attempts == len(broker.requests) == 5  # Retry-After 5 s, a 20 s budget
    assert "Keycloak, the identity provider, is down" in text
    assert "tell your hub admin that Keycloak is down" in text
    assert all(wait >= 5 or wait == vt.sleeps[-1] for wait in vt.sleeps)


def test_errors_after_retries_are_not_cached_and_the_next_call_tries_again(vt):
    broker = Broker(vt, refused)
    client = client_for(broker, retry_seconds=2)
    with pytest.raises(hubtokens.BrokerUnreachable):
        client.get("fruit-api", "fruits:read")
    broker.script, broker.requests = [minted], []  # the hub is back
    assert client.get("fruit-api", "fruits:read").value == "MINTED"
    assert len(broker.requests) == 1


# --- threads: one fetch per key, its error shared --------------------------------------------


def test_threads_waiting_for_one_key_share_one_fetch_and_its_error():
    vt = VirtualTime()
    calls = []
    entered = threading.Event()
    release = threading.Event()

    def slow_refusal(request):
        calls.append(request)
        entered.set()
        release.wait(5)
        raise httpx.ConnectError("refused")

    client = client_for(Broker(vt, slow_refusal), retry_seconds=3)
    errors = []

    def worker():
        try:
            client.get("fruit-api", "fruits:read")
        except hubtokens.HubTokensError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    threads[0].start()
    assert entered.wait(5)
    for t in threads[1:]:
        t.start()
    time.sleep(0.05)  # let the others queue behind the fetch in progress
    release.set()
    for t in threads:
        t.join(10)
    assert len(errors) == 10
    assert all(isinstance(e, hubtokens.BrokerUnreachable) for e in errors)
    assert "Gave up after" in str(errors[0])
    # One fetch's attempts, not ten fetches' (each thread retrying in turn).
    assert len(calls) == len(vt.sleeps) + 1
    assert not client._flights


def test_threads_share_one_token_after_retries(vt):
    broker = Broker(vt, refused, idp_down(), minted)
    client = client_for(broker)
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        results.append(client.get("fruit-api", "fruits:read"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and len({id(r) for r in results}) == 1
    assert len(broker.requests) == 3


def test_the_request_body_is_the_same_on_every_attempt(vt):
    broker = Broker(vt, refused, idp_down(), minted)
    client_for(broker).get("fruit-api", "fruits:read")
    bodies = {json.loads(r.content)["scope"] for r in broker.requests}
    assert bodies == {"fruits:read"}
    assert {r.headers["Authorization"] for r in broker.requests} == {f"token {API_TOKEN}"}


def test_idp_unavailable_carries_retry_after_like_rate_limited():
    body = {"error": "idp_unavailable", "message": "Keycloak failed (HTTP 502)."}
    error = hubtokens.errors.error_from_response(503, body, "5")
    assert isinstance(error, hubtokens.IdpUnavailable) and error.retry_after == 5
    assert error.message == "Keycloak failed (HTTP 502)."
    bare = hubtokens.errors.error_from_response(503, {"error": "idp_unavailable"}, "5")
    assert "Retry in 5 s" in str(bare)
    for header in (None, "soon"):
        error = hubtokens.errors.error_from_response(503, body, header)
        assert error.retry_after is None


def test_a_proxy_page_that_echoes_the_api_token_is_scrubbed(vt):
    page = f"<html>502: upstream refused Authorization: token {API_TOKEN}</html>"
    broker = Broker(vt, answer(502, text=page))
    with pytest.raises(hubtokens.HubTokensError) as info:
        client_for(broker, retry_seconds=0).get("fruit-api")
    assert API_TOKEN not in str(info.value) and API_TOKEN not in repr(info.value)
    assert "token ***" in str(info.value)


def test_hub_unavailable_is_retried_then_says_the_hub_is_down(vt):
    body = {"error": "hub_unavailable", "message": "the hub's database is not answering."}
    refused = answer(503, body, {"Retry-After": "5"})
    broker = Broker(vt, refused, refused, minted)
    assert client_for(broker).get("fruit-api", "fruits:read").value
    assert len(broker.requests) == 3 and all(s >= 5 for s in vt.sleeps)
    always = Broker(vt, refused)
    with pytest.raises(hubtokens.HubUnavailable) as info:
        client_for(always).get("fruit-api", "fruits:read")
    assert "the hub is down or restarting" in str(info.value)
    assert info.value.retry_after == 5 and info.value.attempts > 1
