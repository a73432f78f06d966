"""Revocation (review item 7) and identity (item 9): epochs, logout under the per-user lock,
cache hits that need a session, groups re-checked on refresh, the hub user bound to a sub.

Races are driven by asyncio events in the fakes: Keycloak (the exchange) or the refresher
blocks until the test lets it go, while a logout or a revocation runs.
"""

import asyncio
import logging

import httpx
import pytest
from oauthenticator.oauth2 import OAuthenticator
from tornado.web import HTTPError

from hubbroker import KeycloakAuthenticator
from hubbroker.authenticator import PENDING_MESSAGE
from hubbroker.cache import Minted
from hubbroker.errors import BrokerError
from hubbroker.handlers import log_out
from hubbroker.service import SUB_KEY, has_session, logged_out_state
from stackconf import settings
from tests.support.broker_fakes import (
    NOW,
    Clock,
    FakeRefresher,
    FakeUser,
    exchange_form,
    make_broker,
    make_jwt,
    minted_answer,
    registry,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
POLICY = registry("fruit-api", {"fruits:read": "fruit-reader"})
SUB = "0b6d1c1e-4c8e-4f6a-9a53-5a2f3c1d0001"
OTHER_SUB = "7f3e2d1c-0000-4000-8000-00000000beef"


class BlockingKeycloak:
    """The token endpoint: answers an exchange once ``release`` is set (``entered`` tells that
    a request is waiting); records the subject tokens."""

    def __init__(self, block: bool = True):
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        if not block:
            self.release.set()
        self.subjects = []

    async def __call__(self, request):
        form = exchange_form(request)
        self.subjects.append(form["subject_token"])
        self.entered.set()
        await self.release.wait()
        return minted_answer(len(self.subjects), f"profile {form['scope']}")


class BlockingRefresher(FakeRefresher):
    """A refresher that waits for ``release`` (``entered`` is set when a refresh waits)."""

    def __init__(self, events, clock):
        super().__init__(events, clock, delay=0)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, refresh_token):
        self.entered.set()
        await self.release.wait()
        return await super().__call__(refresh_token)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def events():
    return []


@pytest.fixture
def keycloak():
    return BlockingKeycloak(block=False)


@pytest.fixture
def refresher(events, clock):
    return BlockingRefresher(events, clock)


@pytest.fixture
async def broker(keycloak, refresher, clock):
    transport = httpx.MockTransport(keycloak)
    async with httpx.AsyncClient(transport=transport) as http:
        yield make_broker(
            http,
            POLICY,
            refresher=refresher,
            clock=clock,
            log=logging.getLogger("test.hubtokens.revocation"),
        )


def session_user(name="alice", events=None, ttl=600):
    state = {
        "access_token": make_jwt(NOW + ttl, groups=["/hub-users"]),
        "refresh_token": "refresh-1",
        "id_token": "id-1",
        SUB_KEY: SUB,
    }
    return FakeUser(name, state, events)


class ApiTokens:
    """Stands in for the logout handler's ``revoke_api_tokens``; records who held the lock."""

    def __init__(self, broker):
        self.broker = broker
        self.revoked = []

    def __call__(self, user):
        assert len(self.broker.locks) == 1  # called under the user's lock
        self.revoked.append(user.name)


async def mint(broker, user, server=""):
    return await broker.mint(user, server, "fruit-api", "fruits:read")


# --- Epochs ------------------------------------------------------------------------------


async def test_revoke_bumps_the_epoch_per_user_and_drops_the_cache(broker):
    alice, bob = session_user("alice"), session_user("bob")
    await mint(broker, alice)
    await mint(broker, bob)
    assert broker.epoch("alice") == 0
    assert broker.revoke("alice") == 1
    assert (broker.epoch("alice"), broker.epoch("bob")) == (1, 0)
    assert len(broker.cache) == 1
    assert broker.revoke("alice") == 0 and broker.epoch("alice") == 2


async def test_an_entry_of_an_older_epoch_is_not_served(broker, keycloak):
    alice = session_user()
    first, _ = await mint(broker, alice)
    key = ("alice", "", "fruit-api", ("fruits:read",))
    broker._epochs["alice"] = 1  # a revocation whose cache drop did not happen
    assert broker.cache.get(key, 1) is None
    assert len(broker.cache) == 0
    again, cached = await mint(broker, alice)
    assert cached is False and again.access_token == "MINTED-2"
    assert broker.cache.get(key, 1) is again  # stored under the new epoch


# --- A mint in flight during a logout ----------------------------------------------------


async def test_a_mint_blocked_in_the_exchange_during_logout_is_refused_and_not_cached(
    broker, keycloak
):
    keycloak.release.clear()
    alice = session_user()
    minting = asyncio.create_task(mint(broker, alice))
    await asyncio.wait_for(keycloak.entered.wait(), 2)
    tokens = ApiTokens(broker)
    held = await log_out(broker, alice, tokens)
    assert held["refresh_token"] == "refresh-1"  # for the back-channel logout afterwards
    assert tokens.revoked == ["alice"]
    keycloak.release.set()
    with pytest.raises(BrokerError) as info:
        await minting
    assert info.value.code == "login_required"
    assert "you logged out while this token was minted: log in again" in info.value.message
    assert len(broker.cache) == 0
    assert alice.state == {SUB_KEY: SUB}
    assert len(broker.locks) == 0


async def test_a_revocation_during_the_exchange_alone_refuses_the_token(broker, keycloak):
    keycloak.release.clear()
    alice = session_user()
    minting = asyncio.create_task(mint(broker, alice))
    await asyncio.wait_for(keycloak.entered.wait(), 2)
    broker.revoke("alice")
    keycloak.release.set()
    with pytest.raises(BrokerError) as info:
        await minting
    assert info.value.code == "login_required"
    assert len(broker.cache) == 0


async def test_a_mint_queued_behind_a_logout_finds_no_session(broker, refresher, keycloak):
    alice = session_user(ttl=0)  # the first mint refreshes, and blocks there with the lock
    first = asyncio.create_task(mint(broker, alice))
    await asyncio.wait_for(refresher.entered.wait(), 2)
    logout = asyncio.create_task(log_out(broker, alice, ApiTokens(broker)))
    await asyncio.sleep(0)
    second = asyncio.create_task(mint(broker, alice, "gpu"))  # started after the logout
    await asyncio.sleep(0)
    refresher.release.set()
    await logout
    for task in (first, second):
        with pytest.raises(BrokerError) as info:
            await task
        assert info.value.code == "login_required"
    assert keycloak.subjects == []
    assert len(broker.cache) == 0


# --- A refresh in flight during a logout -------------------------------------------------


async def test_a_refresh_blocked_during_logout_saves_nothing(broker, refresher, events):
    alice = session_user(events=events, ttl=0)  # expired: the mint refreshes
    minting = asyncio.create_task(mint(broker, alice))
    await asyncio.wait_for(refresher.entered.wait(), 2)
    logout = asyncio.create_task(log_out(broker, alice, ApiTokens(broker)))
    await asyncio.sleep(0.01)
    assert not logout.done()  # it waits for the user's lock, held by the refresh
    refresher.release.set()
    with pytest.raises(BrokerError) as info:
        await minting
    assert info.value.code == "login_required"
    await logout
    assert refresher.calls == ["refresh-1"]
    assert alice.saved == [{SUB_KEY: SUB}]  # only the logout's save: no rotated token
    assert ("save", "refresh-2") not in events
    assert not has_session(alice.state)


async def test_a_refresh_finishing_after_a_revocation_saves_nothing(broker, refresher):
    alice = session_user(ttl=0)
    minting = asyncio.create_task(mint(broker, alice))
    await asyncio.wait_for(refresher.entered.wait(), 2)
    broker.revoke("alice")  # without the lock: the epoch alone stops the save
    refresher.release.set()
    with pytest.raises(BrokerError) as info:
        await minting
    assert info.value.code == "login_required"
    assert alice.saved == []
    assert alice.state["refresh_token"] == "refresh-1"


async def test_a_user_without_sub_is_cleared_to_none_at_logout(broker):
    alice = session_user()
    del alice.state[SUB_KEY]
    await log_out(broker, alice, ApiTokens(broker))
    assert alice.state is None


# --- A cache hit needs a session ---------------------------------------------------------


@pytest.mark.parametrize("state", [None, {SUB_KEY: SUB}, {"refresh_token": "refresh-1"}])
async def test_a_cache_hit_after_auth_state_was_cleared_is_login_required(broker, keycloak, state):
    alice = session_user()
    await mint(broker, alice)
    await mint(broker, alice, "gpu")
    alice.state = state  # cleared behind the broker's back (another hub process, an admin)
    with pytest.raises(BrokerError) as info:
        await mint(broker, alice)
    assert info.value.code == "login_required"
    assert len(broker.cache) == 0  # every entry of the user
    assert len(keycloak.subjects) == 2


async def test_a_cache_hit_still_reads_auth_state_once(broker, keycloak):
    alice = session_user()
    reads = []
    original = alice.get_auth_state

    async def counting():
        reads.append(1)
        return await original()

    alice.get_auth_state = counting
    await mint(broker, alice)
    reads.clear()
    _, cached = await mint(broker, alice)
    assert cached and reads == [1]


# --- Groups re-checked on the broker's refresh -------------------------------------------


class Allowed:
    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    async def __call__(self, username, token_info):
        self.calls.append((username, token_info["refresh_token"]))
        return self.answer


async def test_a_refresh_showing_the_user_no_longer_allowed_revokes(broker, refresher, keycloak):
    refresher.release.set()
    broker.still_allowed = Allowed(False)
    alice = session_user(ttl=0)
    broker.cache.put(("alice", "gpu", "fruit-api", ("fruits:read",)), minted_token(), 0)
    with pytest.raises(BrokerError) as info:
        await mint(broker, alice)
    assert info.value.code == "login_required"
    assert "no longer allowed" in info.value.message
    assert broker.still_allowed.calls == [("alice", "refresh-2")]
    assert broker.epoch("alice") == 1
    assert len(broker.cache) == 0
    assert alice.state == {SUB_KEY: SUB}  # the session is ended in the hub
    assert keycloak.subjects == []


async def test_a_refresh_of_a_still_allowed_user_goes_on(broker, refresher, keycloak):
    refresher.release.set()
    broker.still_allowed = Allowed(True)
    alice = session_user(ttl=0)
    minted, cached = await mint(broker, alice)
    assert (minted.access_token, cached) == ("MINTED-1", False)
    assert alice.state["refresh_token"] == "refresh-2"
    assert alice.state[SUB_KEY] == SUB  # kept across refreshes
    assert broker.epoch("alice") == 0


def minted_token():
    return Minted(access_token="CACHED", expires_at=NOW + 300, scope="fruits:read", audience="a")


def test_logged_out_state_keeps_only_the_sub():
    assert logged_out_state({"access_token": "a", "refresh_token": "r", SUB_KEY: SUB}) == {
        SUB_KEY: SUB
    }
    assert logged_out_state({"access_token": "a"}) is None
    assert logged_out_state(None) is None
    assert not has_session({SUB_KEY: SUB}) and not has_session(None)
    assert has_session({"access_token": "a"})


# --- The authenticator: groups on refresh, the sub ---------------------------------------


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("IDP_API_REGISTRY", str(settings.REPO / "idp" / "apis.yml"))
    return monkeypatch


@pytest.fixture
def hub(env):
    return KeycloakAuthenticator(
        manage_groups=True,
        allowed_groups={"hub-users"},
        auth_state_groups_key="oauth_user.groups",
        enable_auth_state=True,
        username_claim="preferred_username",  # as hub/jupyterhub_config.py
    )


def token_info(groups, sub=SUB):
    claims = {"sub": sub, "preferred_username": "alice"}
    if groups is not None:
        claims["groups"] = groups
    return {
        "access_token": make_jwt(NOW + 300, **claims),
        "refresh_token": "refresh-2",
        "token_type": "Bearer",
    }


@pytest.mark.parametrize(
    ("groups", "allowed"),
    [
        (["/hub-users", "/fruit-readers"], True),
        (["/fruit-readers"], False),
        (["/lab/hub-users"], False),  # a subgroup named like the allowed group
        ([], False),
        (None, False),  # no groups claim: fail closed
    ],
)
async def test_still_allowed_reads_the_groups_of_the_refreshed_token(hub, groups, allowed):
    assert await hub.still_allowed("alice", token_info(groups)) is allowed


async def test_still_allowed_follows_allow_all_and_blocked_users(env):
    everyone = KeycloakAuthenticator(allow_all=True, manage_groups=True)
    assert await everyone.still_allowed("alice", token_info(["/fruit-readers"]))
    blocked = KeycloakAuthenticator(allow_all=True, blocked_users={"alice"})
    assert not await blocked.still_allowed("alice", token_info(["/hub-users"]))


async def test_the_broker_asks_the_authenticator(hub):
    assert hub.broker.still_allowed == hub.still_allowed


def userinfo_of(groups, sub=SUB):
    async def token_to_user(token_info):
        return {"sub": sub, "preferred_username": "alice", "groups": groups}

    return token_to_user


async def test_refresh_user_of_a_user_removed_from_the_group_revokes(hub, monkeypatch):
    monkeypatch.setattr(hub, "token_to_user", userinfo_of(["/fruit-readers"]))
    alice = session_user()
    alice.state["token_response"] = token_info(["/hub-users"])
    hub.broker.cache.put(("alice", "", "fruit-api", ("fruits:read",)), minted_token(), 0)
    assert await hub.refresh_user(alice) is False
    assert alice.state == {SUB_KEY: SUB}
    assert hub.broker.epoch("alice") == 1
    assert len(hub.broker.cache) == 0
    assert len(hub.broker.locks) == 0


async def test_refresh_user_of_an_allowed_user_returns_the_model_with_the_sub(hub, monkeypatch):
    monkeypatch.setattr(hub, "token_to_user", userinfo_of(["/hub-users"]))
    alice = session_user()
    alice.state["token_response"] = token_info(["/hub-users"])
    model = await hub.refresh_user(alice)
    assert model["groups"] == ["hub-users"]
    assert model["auth_state"][SUB_KEY] == SUB
    assert hub.broker.epoch("alice") == 0


async def test_refresh_user_after_logout_needs_a_login_without_asking_keycloak(hub, monkeypatch):
    async def never(*args, **kwargs):
        raise AssertionError("OAuthenticator's refresh must not run")

    monkeypatch.setattr(OAuthenticator, "refresh_user", never)
    for state in (None, {SUB_KEY: SUB}):
        assert await hub.refresh_user(FakeUser("alice", state)) is False


async def test_refresh_user_revoked_meanwhile_hands_jupyterhub_no_tokens(hub, monkeypatch):
    async def refresh(self, user, handler=None, **kwargs):
        self.broker.revoke(user.name)  # e.g. the broker found the user not allowed
        return {"name": user.name, "auth_state": {"access_token": "new"}, "groups": []}

    monkeypatch.setattr(OAuthenticator, "refresh_user", refresh)
    assert await hub.refresh_user(session_user()) is False


async def test_the_auth_state_records_the_keycloak_sub(hub):
    state = await hub.build_auth_state_dict(token_info(["/hub-users"]), {"sub": SUB})
    assert state[SUB_KEY] == SUB
    assert state["refresh_token"] == "refresh-2"


class Handler:
    """What the login needs of JupyterHub's handler: ``find_user``."""

    def __init__(self, *users):
        self.users = {user.name: user for user in users}

    def find_user(self, name):
        return self.users.get(name)


def login_model(sub):
    return {"name": "alice", "admin": None, "auth_state": {"access_token": "a", SUB_KEY: sub}}


async def test_the_first_login_of_a_name_is_bound_to_its_sub(hub):
    model = login_model(SUB)
    assert await hub.run_post_auth_hook(Handler(), model) is model  # no hub user yet
    # A hub user from before the binding (or logged out without a sub): bound now.
    for state in (None, {"access_token": "old"}):
        assert await hub.run_post_auth_hook(Handler(FakeUser("alice", state)), model) is model


async def test_the_same_account_logs_in_again(hub):
    model = login_model(SUB)
    assert await hub.run_post_auth_hook(Handler(session_user()), model) is model


async def test_a_re_created_account_of_the_same_name_is_refused(hub, caplog):
    with pytest.raises(HTTPError) as info:
        await hub.run_post_auth_hook(Handler(session_user()), login_model(OTHER_SUB))
    assert info.value.status_code == 403
    assert info.value.log_message == (
        "the Keycloak account alice was re-created (a different account than the one this "
        "hub knew): a hub admin must delete the old hub user alice before it can log in"
    )
    assert "login of alice refused" in caplog.text and OTHER_SUB in caplog.text


async def test_after_logout_the_sub_is_still_recorded_and_enforced(hub):
    alice = session_user()
    broker = hub.broker
    await log_out(broker, alice, ApiTokens(broker))
    assert alice.state == {SUB_KEY: SUB}
    with pytest.raises(HTTPError) as info:
        await hub.run_post_auth_hook(Handler(alice), login_model(OTHER_SUB))
    assert info.value.status_code == 403
    model = login_model(SUB)
    assert await hub.run_post_auth_hook(Handler(alice), model) is model


async def test_a_login_without_sub_is_refused(hub):
    with pytest.raises(HTTPError) as info:
        await hub.run_post_auth_hook(Handler(), login_model(None))
    assert info.value.status_code == 403


async def test_the_post_auth_hook_still_runs(env):
    def hook(authenticator, handler, model):
        return {**model, "hooked": True}

    a = KeycloakAuthenticator(post_auth_hook=hook)
    assert (await a.run_post_auth_hook(Handler(), login_model(SUB)))["hooked"]


async def test_a_pending_account_is_told_it_waits_at_login_and_refused_at_refresh(hub):
    """Members of HUB_PENDING_GROUP get the waiting page (a 403 with its own message) at
    login; a refresh of such a session is simply not allowed (no error escapes)."""

    def model(*groups: str) -> dict:
        return {"name": "alice", "admin": None, "groups": list(groups)}

    with pytest.raises(HTTPError) as refused:
        await hub.check_allowed("alice", model("hub-requests"))
    assert refused.value.status_code == 403 and refused.value.log_message == PENDING_MESSAGE
    assert await hub.check_allowed("alice", model("other")) is False
    assert await hub.still_allowed("alice", token_info(["/hub-requests"])) is False
    assert await hub.check_allowed("alice", model("hub-requests", "hub-users")) is True
