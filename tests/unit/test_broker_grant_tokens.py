"""Minting within a job grant (hubbroker.grant_tokens): only what the grant holds, one refresh
of its offline token at a time, the rotated token kept, and a grant Keycloak ended or whose
deadline passed ended on the hub. Keycloak is a fake here (tests/integration/
test_job_grants_keycloak.py and tests/integration/test_job_grants_hub.py use the real one)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hubbroker.errors import BrokerError
from hubbroker.grant_handlers import GrantFlow
from hubbroker.grant_tokens import (
    ENDED_AT_KEYCLOAK,
    ENDED_BY_BLOCK,
    REVOKED_BY_OWNER,
    GrantGone,
    GrantTokens,
)
from hubbroker.grants import (
    ACTIVE,
    DAY,
    DEADLINE_PASSED,
    EXPIRED,
    REVOKED,
    GrantRequest,
    GrantStore,
)
from tests.unit.test_broker_grants import APIS, Clock

READ = ("fruits:read",)


class FakeKeycloak:
    """The job-grants client's refresh: rotates the offline token each time and, as Keycloak
    does, ends the grant when a rotated-away token is used again."""

    def __init__(self, clock: Clock, granted: str = "fruits:read fruits:write") -> None:
        self.clock, self.granted = clock, granted
        self.current, self.serial, self.refreshes, self.revoked = "offline-0", 0, [], []
        self.gone = False
        self.holds: dict[str, bool | None] = {}  # what introspection says, by offline token

    async def refresh(self, offline: str, scopes: tuple[str, ...]) -> dict:
        self.refreshes.append((offline, scopes))
        await asyncio.sleep(0)  # let a concurrent mint run into the lock
        if self.gone or offline != self.current:
            self.gone = True  # reuse of a rotated token ends the offline session
            raise GrantGone()
        self.serial += 1
        self.current = f"offline-{self.serial}"
        held = [s for s in scopes if s in self.granted.split()]
        return {
            "access_token": f"access-{self.serial}",
            "expires_in": 300,
            "refresh_token": self.current,
            "scope": " ".join(held),
        }

    async def revoke(self, offline: str) -> None:
        self.revoked.append(offline)

    async def alive(self, offline: str) -> bool | None:
        return self.holds.get(offline, not self.gone)


async def sealed(value: str) -> bytes:
    return f"sealed:{value}".encode()


async def opened(value: bytes) -> str:
    return value.decode().removeprefix("sealed:")


@pytest.fixture
def world() -> tuple[GrantStore, Clock, FakeKeycloak, GrantTokens]:
    clock = Clock()
    store = GrantStore(Session(create_engine("sqlite://")), clock=clock)
    keycloak = FakeKeycloak(clock)
    tokens = GrantTokens(keycloak, sealed, opened, clock=clock)
    return store, clock, keycloak, tokens


def grant_of(store: GrantStore, scopes=("fruits:read", "fruits:write"), days: int = 1):
    return store.add("curator", GrantRequest("nightly", tuple(scopes), days), b"sealed:offline-0")


def refusal(coroutine) -> BrokerError:
    with pytest.raises(BrokerError) as info:
        asyncio.run(coroutine)
    return info.value


def test_a_token_within_the_grant_is_minted_and_the_rotated_token_kept(world) -> None:
    store, clock, keycloak, tokens = world
    grant = grant_of(store)
    minted = asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    assert (minted.access_token, minted.audience, minted.scope) == (
        "access-1",
        "fruit-api",
        READ[0],
    )
    assert minted.expires_at == clock.now + 300
    assert keycloak.refreshes == [("offline-0", READ)]
    assert store.token("curator", grant.id) == b"sealed:offline-1"  # the next refresh's


def test_a_minted_token_is_reused_until_shortly_before_it_expires(world) -> None:
    store, clock, keycloak, tokens = world
    grant = grant_of(store)
    first = asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    clock.now += 300 - 31  # 31 s left: more than the 30 s margin
    assert asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS)) == first
    clock.now += 2
    again = asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    assert again.access_token == "access-2"
    assert len(keycloak.refreshes) == 2


@pytest.mark.parametrize(
    ("audience", "scopes", "named"),
    [
        ("fruit-api", ("fruits:exotic",), "fruits:exotic"),  # the API's, not the grant's
        ("fruit-api", ("fruits:read", "veg:read"), "veg:read"),  # one of them outside
        ("veg-api", ("fruits:read",), "fruits:read"),  # the grant's scope, another audience
        ("fruit-api", ("fruits:write",), "fruits:write"),  # allowed for jobs, not in this grant
    ],
)
def test_anything_beyond_the_grant_is_refused_before_keycloak(
    world, audience: str, scopes: tuple[str, ...], named: str
) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store, scopes=READ)
    error = refusal(tokens.mint(store, "curator", grant.id, audience, scopes, APIS))
    assert error.code == "not_granted_to_job"
    assert error.status == 403
    assert "'nightly' holds fruits:read" in error.message and named in error.message
    assert "/hub/grants" in error.message  # the fix
    assert keycloak.refreshes == []


def test_a_grant_keycloak_ended_is_ended_on_the_hub_with_the_reason(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)
    keycloak.gone = True  # revoked in Keycloak's account console
    error = refusal(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    assert (error.code, error.status) == ("grant_ended", 401)
    assert ENDED_AT_KEYCLOAK in error.message
    [listed] = store.list("curator")
    assert (listed.state, listed.reason) == (REVOKED, ENDED_AT_KEYCLOAK)
    assert store.token("curator", grant.id) is None
    # The next mint is refused by the hub alone.
    assert refusal(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS)).code == (
        "grant_ended"
    )
    assert len(keycloak.refreshes) == 1


def test_at_the_deadline_the_grant_ends_and_is_revoked_at_keycloak(world) -> None:
    store, clock, keycloak, tokens = world
    grant = grant_of(store, days=1)
    asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    clock.now += DAY
    error = refusal(tokens.mint(store, "curator", grant.id, "fruit-api", ("fruits:write",), APIS))
    assert error.code == "grant_ended" and DEADLINE_PASSED in error.message
    assert keycloak.revoked == ["offline-1"]
    [listed] = store.list("curator")
    assert (listed.state, listed.reason) == (EXPIRED, DEADLINE_PASSED)
    # The token minted before the deadline is no longer handed out either.
    assert refusal(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS)).code == (
        "grant_ended"
    )


def test_a_grant_revoked_on_the_hub_mints_nothing_more(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)
    asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    store.end("curator", grant.id, REVOKED, "revoked by its owner")
    error = refusal(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    assert error.code == "grant_ended" and "revoked by its owner" in error.message
    assert len(keycloak.refreshes) == 1


def test_another_users_grant_is_not_found(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)
    error = refusal(tokens.mint(store, "reader", grant.id, "fruit-api", READ, APIS))
    assert error.code == "grant_ended" and "no job grant" in error.message
    assert keycloak.refreshes == []


def test_concurrent_mints_refresh_one_at_a_time_with_the_latest_token(world) -> None:
    """Keycloak ends a grant whose rotated-away token is used again: two mints of different
    scopes at once must not both use offline-0."""
    store, _, keycloak, tokens = world
    grant = grant_of(store)

    async def both():
        return await asyncio.gather(
            tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS),
            tokens.mint(store, "curator", grant.id, "fruit-api", ("fruits:write",), APIS),
        )

    read, write = asyncio.run(both())
    assert {read.scope, write.scope} == {"fruits:read", "fruits:write"}
    assert [offline for offline, _ in keycloak.refreshes] == ["offline-0", "offline-1"]
    assert store.list("curator")[0].state == ACTIVE


def test_a_scope_keycloak_no_longer_grants_the_user_is_refused(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)
    keycloak.granted = "fruits:read"  # the user left fruit-curators
    error = refusal(tokens.mint(store, "curator", grant.id, "fruit-api", ("fruits:write",), APIS))
    assert error.code == "scope_not_allowed" and "fruits:write" in error.message
    assert store.token("curator", grant.id) == b"sealed:offline-1"  # the grant goes on


def keycloak_answering(status: int, body: object) -> GrantFlow:
    def answer(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        assert form["grant_type"] == "refresh_token" and form["scope"] == "fruits:read"
        return httpx.Response(status, content=json.dumps(body).encode())

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return GrantFlow("secret", "https://kc/auth", "https://kc/token", "https://kc/revoke", "", http)


def test_the_refresh_returns_keycloaks_token_response() -> None:
    body = {"access_token": "a", "expires_in": 300, "refresh_token": "r", "scope": "fruits:read"}
    assert asyncio.run(keycloak_answering(200, body).refresh("offline", READ)) == body


def test_keycloak_not_knowing_the_offline_token_means_the_grant_is_gone() -> None:
    flow = keycloak_answering(400, {"error": "invalid_grant", "error_description": "Offline"})
    with pytest.raises(GrantGone):
        asyncio.run(flow.refresh("offline", READ))


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "invalid_scope"}, "not_granted_to_job"),  # idp/apis.yml changed
        (401, {"error": "invalid_client"}, "idp_unavailable"),  # the hub's secret is wrong
        (503, {}, "idp_unavailable"),
        (200, {"access_token": "a", "expires_in": 300}, "idp_unavailable"),  # no offline token
    ],
)
def test_other_answers_of_keycloak_say_what_went_wrong(status: int, body: dict, code: str) -> None:
    error = refusal(keycloak_answering(status, body).refresh("offline", READ))
    assert error.code == code


def test_a_revoked_grant_ends_at_keycloak_then_on_the_hub(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)
    asyncio.run(tokens.mint(store, "curator", grant.id, "fruit-api", READ, APIS))
    asyncio.run(tokens.revoke_grant(store, grant, REVOKED_BY_OWNER))
    assert keycloak.revoked == ["offline-1"]  # the current offline token
    [listed] = store.list("curator")
    assert (listed.state, listed.reason) == (REVOKED, REVOKED_BY_OWNER)
    assert tokens.forget(grant.id) == 0  # its minted token went with it


def test_a_grant_keycloak_could_not_revoke_is_kept_to_try_again(world) -> None:
    store, _, keycloak, tokens = world
    grant = grant_of(store)

    async def down(offline: str) -> None:
        raise BrokerError("idp_unavailable", "Keycloak could not be reached")

    keycloak.revoke = down
    assert refusal(tokens.revoke_grant(store, grant, REVOKED_BY_OWNER)).code == "idp_unavailable"
    assert store.list("curator")[0].state == ACTIVE
    assert store.token("curator", grant.id) == b"sealed:offline-0"


def test_a_blocked_or_deleted_user_loses_every_active_grant_even_if_keycloak_is_down(
    world,
) -> None:
    store, _, keycloak, tokens = world
    first, second = (
        grant_of(store),
        store.add("curator", GrantRequest("weekly", READ, 7), b"sealed:other"),
    )
    done = grant_of(store)
    store.end("curator", done.id, REVOKED, REVOKED_BY_OWNER)
    assert asyncio.run(tokens.end_all(store, "curator", ENDED_BY_BLOCK)) == 2
    assert sorted(keycloak.revoked) == ["offline-0", "other"]
    states = {g.id: (g.state, g.reason) for g in store.list("curator")}
    assert states[first.id] == states[second.id] == (REVOKED, ENDED_BY_BLOCK)
    assert states[done.id] == (REVOKED, REVOKED_BY_OWNER)

    async def down(offline: str) -> None:
        raise BrokerError("idp_unavailable", "Keycloak could not be reached")

    keycloak.revoke = down
    third = store.add("curator", GrantRequest("hourly", READ, 1), b"sealed:third")
    assert asyncio.run(tokens.end_all(store, "curator", ENDED_BY_BLOCK)) == 1
    assert store.token("curator", third.id) is None  # forgotten by the hub all the same


def test_the_listing_ends_the_grants_keycloak_no_longer_holds(world) -> None:
    """Revoked in Keycloak's account console: the hub's listing says so, without a mint."""
    store, _, keycloak, tokens = world
    kept, dropped, unsure = (
        store.add("curator", GrantRequest(name, READ, 1), f"sealed:{name}".encode())
        for name in ("kept", "dropped", "unsure")
    )
    keycloak.holds = {"kept": True, "dropped": False, "unsure": None}  # None: no answer
    states = {g.name: (g.state, g.reason) for g in asyncio.run(tokens.check(store, "curator"))}
    assert states == {
        "kept": (ACTIVE, ""),
        "dropped": (REVOKED, ENDED_AT_KEYCLOAK),
        "unsure": (ACTIVE, ""),
    }
    assert keycloak.refreshes == []  # introspection rotates nothing


def introspection_answering(status: int, body: object) -> GrantFlow:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/token/introspect"
        return httpx.Response(status, content=json.dumps(body).encode())

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return GrantFlow("secret", "https://kc/auth", "https://kc/token", "https://kc/revoke", "", http)


@pytest.mark.parametrize(
    ("status", "body", "alive"),
    [
        (200, {"active": True, "scope": "fruits:read"}, True),
        (200, {"active": False}, False),
        (200, ["not", "an", "object"], None),
        (401, {"error": "invalid_client"}, None),
        (503, {}, None),
    ],
)
def test_introspection_says_yes_no_or_nothing(status: int, body: object, alive) -> None:
    assert asyncio.run(introspection_answering(status, body).alive("offline")) is alive
