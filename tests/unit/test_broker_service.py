"""TokenBroker: cache, refresh (single-flight, saved before use), exchange, errors, audit."""

import asyncio
import logging

import httpx
import jwt
import pytest
import respx

from hubbroker.errors import BrokerError
from hubbroker.guards import MintRateLimiter, RequestLimits
from hubbroker.service import realm_roles, token_expiry
from tests.support.broker_fakes import (
    NOW,
    TOKEN_URL,
    Clock,
    FakeRefresher,
    FakeUser,
    Keycloak,
    make_broker,
    make_jwt,
    registry,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
POLICY = registry("fruit-api", {"fruits:read": "fruit-reader", "fruits:write": "curator"})


@pytest.fixture
def events():
    return []


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def keycloak(events):
    kc = Keycloak(events)
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(side_effect=kc)
        yield kc


@pytest.fixture
def refresher(events, clock):
    return FakeRefresher(events, clock)


@pytest.fixture
def log():
    return logging.getLogger("test.hubbroker")


@pytest.fixture
async def broker(refresher, clock, log):
    async with httpx.AsyncClient() as http:
        yield make_broker(http, POLICY, refresher=refresher, log=log, clock=clock)


@pytest.fixture
async def limited(refresher, clock, log):
    """A broker with small limits: 5 scopes, names of 40 characters, 2 misses per 10 s."""
    async with httpx.AsyncClient() as http:
        yield make_broker(
            http,
            POLICY,
            refresher=refresher,
            log=log,
            clock=clock,
            limits=RequestLimits(max_body=4096, max_scopes=5, max_name_length=40),
            rate_limiter=MintRateLimiter(60, 2),
        )


def fresh_user(name="alice", events=None, ttl=600):
    state = {
        "access_token": make_jwt(NOW + ttl, realm_access={"roles": ["fruit-reader"]}),
        "refresh_token": "refresh-1",
        "id_token": "id-1",
    }
    return FakeUser(name, state, events)


async def test_first_mint_exchanges_then_the_same_request_is_served_from_cache(
    broker, keycloak, refresher
):
    user = fresh_user()
    minted, cached = await broker.mint(user, "", "fruit-api", "fruits:read")
    assert (minted.access_token, cached) == ("MINTED-1", False)
    assert minted.audience == "fruit-api"
    assert minted.scope == "fruits:read"
    assert minted.expires_at == NOW + 300
    assert keycloak.requests[0]["subject_token"] == user.state["access_token"]
    again, cached = await broker.mint(user, "", "fruit-api", ["fruits:read"])
    assert again is minted and cached is True
    assert len(keycloak.requests) == 1
    assert refresher.calls == []
    assert user.saved == []


async def test_another_server_or_scope_gets_its_own_exchange(broker, keycloak):
    user = fresh_user()
    first, _ = await broker.mint(user, "", "fruit-api", "fruits:read")
    other, cached = await broker.mint(user, "gpu", "fruit-api", "fruits:read")
    assert cached is False
    assert other.access_token == "MINTED-2"
    wider, cached = await broker.mint(user, "", "fruit-api", "fruits:write fruits:read")
    assert cached is False
    assert wider.scope == "fruits:read fruits:write"
    assert keycloak.requests[2]["scope"] == "fruits:read fruits:write"
    assert len(keycloak.requests) == 3


async def test_cached_token_is_replaced_when_within_the_margin(broker, keycloak, clock):
    user = fresh_user(ttl=10_000)
    await broker.mint(user, "", "fruit-api", "fruits:read")
    clock.now += 269
    assert (await broker.mint(user, "", "fruit-api", "fruits:read"))[1] is True
    clock.now += 1  # 30 s left: the default cache margin
    minted, cached = await broker.mint(user, "", "fruit-api", "fruits:read")
    assert cached is False
    assert minted.access_token == "MINTED-2"


async def test_granted_scope_narrower_than_asked_is_scope_not_allowed(broker, keycloak):
    keycloak.answer = httpx.Response(
        200,
        json={"access_token": "MINTED-narrow", "expires_in": 300, "scope": "profile fruits:read"},
    )
    user = fresh_user()
    with pytest.raises(BrokerError) as info:
        await broker.mint(user, "", "fruit-api", "fruits:read fruits:write")
    error = info.value
    assert error.code == "scope_not_allowed"
    assert "scope fruits:write is not granted to alice for fruit-api" in error.message
    assert "role curator" in error.message
    assert "fruit-reader" not in error.message
    assert "MINTED-narrow" not in error.message
    assert len(broker.cache) == 0  # the narrower token is neither cached nor returned


async def test_keycloak_audience_not_available_names_the_roles(broker, keycloak):
    keycloak.answer = httpx.Response(
        400,
        json={
            "error": "invalid_request",
            "error_description": "Requested audience not available: fruit-api",
        },
    )
    with pytest.raises(BrokerError) as info:
        await broker.mint(fresh_user(), "", "fruit-api", "fruits:read fruits:write")
    assert info.value.code == "scope_not_allowed"
    assert "role curator, fruit-reader" in info.value.message
    assert "alice" in info.value.message


async def test_policy_is_checked_before_keycloak(broker, keycloak, refresher):
    user = fresh_user()
    for audience, scope, code in [
        ("bank-api", "fruits:read", "audience_not_allowed"),
        ("fruit-api", "fruits:delete", "scope_not_allowed"),
        ("fruit-api", "", "invalid_request"),
        (None, "fruits:read", "invalid_request"),
        (["fruit-api"], "fruits:read", "invalid_request"),
    ]:
        with pytest.raises(BrokerError) as info:
            await broker.mint(user, "", audience, scope)
        assert info.value.code == code
    assert keycloak.requests == []
    assert refresher.calls == []


@pytest.mark.parametrize(
    "scope", [["fruits:read", 3], ["fruits:read", None], b"fruits:read", 5, True, {"a": 1}]
)
async def test_a_scope_of_the_wrong_type_is_invalid_request(broker, keycloak, scope):
    # A JSON body {"scope": 5} reaches mint unchanged from the handler: a contract error
    # (400 invalid_request), never a TypeError (500).
    with pytest.raises(BrokerError) as info:
        await broker.mint(fresh_user(), "", "fruit-api", scope)
    assert info.value.code == "invalid_request"
    assert info.value.message == (
        "scope must be a space-separated string or a list of scope names, "
        'e.g. "fruits:read fruits:exotic"'
    )
    assert keycloak.requests == []


async def test_list_items_may_be_space_separated(broker, keycloak):
    minted, _ = await broker.mint(fresh_user(), "", "fruit-api", ["fruits:write fruits:read"])
    assert minted.scope == "fruits:read fruits:write"
    assert keycloak.requests[0]["scope"] == "fruits:read fruits:write"


async def test_expiring_upstream_token_is_refreshed_and_saved_before_the_exchange(
    broker, keycloak, refresher, events
):
    user = fresh_user(events=events, ttl=59)  # under the 60 s refresh margin
    old_access = user.state["access_token"]
    minted, _ = await broker.mint(user, "", "fruit-api", "fruits:read")
    assert refresher.calls == ["refresh-1"]
    assert len(user.saved) == 1
    saved = user.saved[0]
    assert saved["refresh_token"] == "refresh-2"  # the rotated one
    assert saved["id_token"] == "id-2"
    assert saved["access_token"] != old_access
    assert saved["token_response"]["refresh_token"] == "refresh-2"
    assert [e[0] for e in events] == ["refresh", "save", "exchange"]
    assert events[2] == ("exchange", saved["access_token"])
    assert minted.access_token == "MINTED-1"


async def test_refresh_keeps_the_old_refresh_token_when_none_is_rotated(
    broker, keycloak, refresher, clock, events
):
    async def no_rotation(refresh_token):
        events.append(("refresh", refresh_token))
        return {"access_token": make_jwt(clock() + 300)}

    broker.refresher = no_rotation
    user = fresh_user(events=events, ttl=0)
    await broker.mint(user, "", "fruit-api", "fruits:read")
    assert user.state["refresh_token"] == "refresh-1"
    assert user.state["id_token"] == "id-1"
    assert [e[0] for e in events] == ["refresh", "save", "exchange"]


async def test_twenty_concurrent_mints_share_one_refresh(broker, keycloak, refresher, events):
    user = fresh_user(events=events, ttl=-5)  # already expired
    results = await asyncio.gather(
        *(broker.mint(user, f"server{i % 4}", "fruit-api", "fruits:read") for i in range(20))
    )
    assert len(results) == 20
    assert refresher.calls == ["refresh-1"]
    assert len(user.saved) == 1
    new_access = user.saved[0]["access_token"]
    exchanges = [e for e in events if e[0] == "exchange"]
    assert exchanges and all(subject == new_access for _, subject in exchanges)
    assert events.index(("save", "refresh-2")) < events.index(exchanges[0])
    assert len(broker.locks) == 0


async def test_a_herd_on_one_key_makes_one_exchange_and_all_get_its_token(
    broker, keycloak, refresher, log, caplog
):
    user = fresh_user(ttl=-5)  # expired: the herd also needs one refresh
    with caplog.at_level(logging.INFO, logger=log.name):
        results = await asyncio.gather(
            *(broker.mint(user, "", "fruit-api", "fruits:read") for _ in range(50))
        )
    assert len(keycloak.requests) == 1
    assert refresher.calls == ["refresh-1"]
    assert {minted.access_token for minted, _ in results} == {"MINTED-1"}
    assert sorted(cached for _, cached in results) == [False] + [True] * 49
    audits = [r.getMessage() for r in caplog.records if "audit" in r.getMessage()]
    assert len(audits) == 50 and sum("cached=false" in a for a in audits) == 1
    assert len(broker.flights) == 0


async def test_a_herd_shares_the_one_exchanges_error_and_the_next_mint_asks_again(broker, keycloak):
    user = fresh_user()
    keycloak.answer = httpx.Response(503, text="down")
    outcomes = await asyncio.gather(
        *(broker.mint(user, "", "fruit-api", "fruits:read") for _ in range(10)),
        return_exceptions=True,
    )
    assert len(keycloak.requests) == 1
    assert {o.code for o in outcomes if isinstance(o, BrokerError)} == {"idp_unavailable"}
    assert len(outcomes) == 10 and all(isinstance(o, BrokerError) for o in outcomes)
    keycloak.answer = None
    minted, cached = await broker.mint(user, "", "fruit-api", "fruits:read")
    assert (minted.access_token, cached) == ("MINTED-1", False)
    assert len(keycloak.requests) == 2


async def test_concurrent_mints_of_different_users_refresh_each(
    broker, keycloak, refresher, events
):
    alice = fresh_user("alice", events, ttl=0)
    bob = fresh_user("bob", events, ttl=0)
    await asyncio.gather(
        *(broker.mint(u, "", "fruit-api", "fruits:read") for u in (alice, bob, alice, bob))
    )
    assert len(refresher.calls) == 2
    assert len(alice.saved) == 1 and len(bob.saved) == 1


@pytest.mark.parametrize("state", [None, {}, {"refresh_token": "refresh-1"}])
async def test_no_session_is_login_required_without_calling_keycloak(
    broker, keycloak, refresher, state
):
    user = FakeUser("alice", state)
    with pytest.raises(BrokerError) as info:
        await broker.mint(user, "", "fruit-api", "fruits:read")
    assert info.value.code == "login_required"
    assert info.value.status == 401
    assert "alice" in info.value.message
    assert keycloak.requests == []
    assert refresher.calls == []
    assert user.saved == []


async def test_expired_token_without_refresh_token_is_login_required(broker, keycloak, refresher):
    user = FakeUser("alice", {"access_token": make_jwt(NOW - 10)})
    with pytest.raises(BrokerError) as info:
        await broker.mint(user, "", "fruit-api", "fruits:read")
    assert info.value.code == "login_required"
    assert keycloak.requests == [] and refresher.calls == []


async def test_refresher_error_propagates_and_nothing_is_saved(broker, keycloak, refresher):
    refresher.error = BrokerError("login_required", "your Keycloak session has ended")
    user = fresh_user(ttl=0)
    with pytest.raises(BrokerError) as info:
        await broker.mint(user, "", "fruit-api", "fruits:read")
    assert info.value is refresher.error
    assert user.saved == []
    assert keycloak.requests == []
    assert len(broker.locks) == 0


async def test_exchange_errors_propagate(broker, keycloak):
    keycloak.answer = httpx.Response(400, json={"error": "invalid_token"})
    with pytest.raises(BrokerError) as info:
        await broker.mint(fresh_user(), "", "fruit-api", "fruits:read")
    assert info.value.code == "login_required"
    keycloak.answer = httpx.Response(503, text="down")
    with pytest.raises(BrokerError) as info:
        await broker.mint(fresh_user(), "", "fruit-api", "fruits:read")
    assert info.value.code == "idp_unavailable"
    assert len(broker.cache) == 0


async def test_audit_line_names_the_request_and_never_a_token(
    broker, keycloak, refresher, log, caplog
):
    user = fresh_user(ttl=0)  # forces a refresh: the refresh log line is checked too
    caplog.set_level(logging.INFO, logger=log.name)
    minted, _ = await broker.mint(user, "", "fruit-api", "fruits:write fruits:read")
    await broker.mint(user, "", "fruit-api", "fruits:read fruits:write")
    audits = [r.getMessage() for r in caplog.records if "audit" in r.getMessage()]
    assert len(audits) == 2
    first, second = audits
    for line in (first, second):
        assert "user=alice" in line
        assert "server=default" in line
        assert "audience=fruit-api" in line
        assert "fruits:read fruits:write" in line
        assert "expires_at=2027-01-15T08:05:00+00:00" in line  # NOW + 300 s, UTC
    assert "cached=false" in first and "cached=true" in second
    secrets = {
        minted.access_token,
        user.saved[0]["access_token"],
        user.saved[0]["refresh_token"],
        "refresh-1",
        user.saved[0]["id_token"],
        "hub-secret",
    }
    for record in caplog.records:
        text = record.getMessage()
        for secret in secrets:
            assert secret not in text


async def test_revoke_empties_the_users_cache_so_the_next_mint_asks_keycloak(broker, keycloak):
    alice, bob = fresh_user("alice"), fresh_user("bob")
    await broker.mint(alice, "", "fruit-api", "fruits:read")
    await broker.mint(alice, "gpu", "fruit-api", "fruits:read")
    await broker.mint(bob, "", "fruit-api", "fruits:read")
    assert len(keycloak.requests) == 3
    assert broker.revoke("alice") == 2
    assert (broker.epoch("alice"), broker.epoch("bob")) == (1, 0)
    assert len(broker.cache) == 1
    assert (await broker.mint(bob, "", "fruit-api", "fruits:read"))[1] is True
    minted, cached = await broker.mint(alice, "", "fruit-api", "fruits:read")
    assert cached is False
    assert minted.access_token == "MINTED-4"
    assert len(keycloak.requests) == 4


def test_token_expiry_reads_exp_without_verifying():
    assert token_expiry(make_jwt(NOW + 5)) == NOW + 5
    assert token_expiry("not-a-jwt") == 0.0
    assert token_expiry(jwt.encode({"sub": "alice"}, "k", algorithm="HS256")) == 0.0


def test_realm_roles_from_the_token():
    token = make_jwt(NOW, realm_access={"roles": ["fruit-reader", "offline_access"]})
    assert realm_roles(token) == ["fruit-reader", "offline_access"]
    assert realm_roles(make_jwt(NOW)) == []
    assert realm_roles(None) == []
    assert realm_roles("garbage") == []


@pytest.mark.parametrize(
    ("audience", "scope"),
    [
        ("fruit-api", " ".join(f"s{i}" for i in range(1000))),
        ("fruit-api", [f"s{i}" for i in range(6)]),
        ("a" * 41, "fruits:read"),
        ("fruit-api", "fruits:read " + "s" * 41),
    ],
)
async def test_request_limits_come_before_the_policy_and_keycloak(
    limited, keycloak, refresher, audience, scope
):
    with pytest.raises(BrokerError) as info:
        await limited.mint(fresh_user(), "", audience, scope)
    assert info.value.code == "invalid_request"
    assert len(info.value.message) < 200
    assert keycloak.requests == [] and refresher.calls == []


async def test_messages_echo_the_callers_input_bounded(broker, keycloak):
    user = fresh_user()
    for audience, scope, code in [
        ("x" * 120, "fruits:read", "audience_not_allowed"),
        ("fruit-api", " ".join(f"fruits:{i:03}" for i in range(20)), "scope_not_allowed"),
    ]:
        with pytest.raises(BrokerError) as info:
            await broker.mint(user, "", audience, scope)
        assert info.value.code == code
        assert "…" in info.value.message
        assert len(info.value.message) < 300
        assert "x" * 64 not in info.value.message and "fruits:019" not in info.value.message


async def test_the_rate_limit_counts_cache_misses_only(limited, keycloak, caplog):
    alice = fresh_user()
    await limited.mint(alice, "default", "fruit-api", "fruits:read")
    for _ in range(10):  # cache hits: no Keycloak, not counted
        _, cached = await limited.mint(alice, "default", "fruit-api", "fruits:read")
        assert cached
    await limited.mint(alice, "token-2", "fruit-api", "fruits:read")  # another hub token
    with pytest.raises(BrokerError) as info:
        await limited.mint(alice, "token-3", "fruit-api", "fruits:read")
    assert (info.value.code, info.value.status) == ("rate_limited", 429)
    assert 1 <= info.value.retry_after <= 10
    assert len(keycloak.requests) == 2
    assert "rate limited user=alice server=token-3 retry_after=" in caplog.text
    _, cached = await limited.mint(alice, "default", "fruit-api", "fruits:read")
    assert cached  # what is cached is still served
    await limited.mint(fresh_user("bob"), "default", "fruit-api", "fruits:read")  # per user


async def test_refused_exchanges_count_too(limited, keycloak):
    # A scope Keycloak does not grant is never cached: without the limit, one hub token could
    # make the hub call Keycloak without end.
    keycloak.answer = httpx.Response(
        400,
        json={"error": "invalid_request", "error_description": "Requested audience not available"},
    )
    alice = fresh_user()
    for _ in range(2):
        with pytest.raises(BrokerError) as info:
            await limited.mint(alice, "default", "fruit-api", "fruits:write")
        assert info.value.code == "scope_not_allowed"
    with pytest.raises(BrokerError) as info:
        await limited.mint(alice, "default", "fruit-api", "fruits:write")
    assert info.value.code == "rate_limited"
    assert len(keycloak.requests) == 2
