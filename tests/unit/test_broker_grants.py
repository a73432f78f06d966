"""Job grants (hubbroker.grants): the policy a request is checked against, and the hub's table
of grants (in SQLite here, as in the native runtime)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from apiregistry import JOBS_CLIENT, ApiSpec, JobsPolicy, ScopeSpec
from hubbroker.errors import BrokerError
from hubbroker.grant_handlers import PENDING_SECONDS, GrantFlow
from hubbroker.grants import (
    ACTIVE,
    DAY,
    EXPIRED,
    REVOKED,
    GrantRequest,
    GrantStore,
    missing_scopes,
    plan_grant,
)


def scope(name: str, days: int = 0) -> ScopeSpec:
    return ScopeSpec(name, "", f"{name}-role", (), JobsPolicy(days > 0, days))


APIS = {
    "fruit-api": ApiSpec(
        "fruit-api",
        "demo",
        ("jupyterhub-exchange",),
        "",
        {
            "fruits:read": scope("fruits:read", 7),
            "fruits:write": scope("fruits:write", 1),
            "fruits:exotic": scope("fruits:exotic"),
        },
    ),  # fmt: skip
    "veg-api": ApiSpec(
        "veg-api", "demo", ("jupyterhub-exchange",), "", {"veg:read": scope("veg:read", 3)}
    ),
}


def refused(name: object, scopes: list[str], days: object) -> BrokerError:
    with pytest.raises(BrokerError) as info:
        plan_grant(APIS, name, scopes, days)  # type: ignore[arg-type]
    return info.value


def test_a_request_within_the_policy_is_planned_with_its_keycloak_scope() -> None:
    request = plan_grant(APIS, "nightly", ["veg:read", "fruits:read", "fruits:read"], "3")
    assert request == GrantRequest("nightly", ("fruits:read", "veg:read"), 3)
    assert request.keycloak_scope == "openid offline_access fruits:read veg:read"


def test_a_scope_the_policy_keeps_from_jobs_is_refused_by_name() -> None:
    error = refused("nightly", ["fruits:read", "fruits:exotic"], 1)
    assert error.code == "scope_not_allowed"
    assert "fruits:exotic may not be granted to jobs" in error.message
    assert "fruits:read, fruits:write, veg:read" in error.message


def test_an_unknown_scope_is_refused_like_one_without_a_policy() -> None:
    assert refused("nightly", ["bank:transfer"], 1).code == "scope_not_allowed"


@pytest.mark.parametrize(
    ("scopes", "days", "says"),
    [
        (["fruits:read"], 8, "may last 1 to 7 day(s)"),
        (["fruits:read", "fruits:write"], 2, "1 to 1 day(s) (fruits:write: at most 1"),
        (["fruits:read"], 0, "got 0"),
        (["fruits:read"], "a week", "days must be a whole number, got a week"),
    ],
)
def test_a_deadline_beyond_the_shortest_max_days_is_refused(
    scopes: list[str], days: object, says: str
) -> None:
    error = refused("nightly", scopes, days)
    assert error.code == "invalid_request"
    assert says in error.message


@pytest.mark.parametrize("name", ["", "Nightly", "-x", "a b", "x" * 65, None, "../up"])
def test_a_grant_name_is_a_short_plain_word(name: object) -> None:
    error = refused(name, ["fruits:read"], 1)
    assert error.code == "invalid_request" and "grant name" in error.message


def test_no_scope_is_refused_with_what_is_offered() -> None:
    assert "offered: fruits:read, fruits:write, veg:read" in refused("n", [], 1).message


def test_missing_scopes_names_what_keycloak_left_out() -> None:
    request = GrantRequest("n", ("fruits:read", "fruits:write"), 1)
    assert missing_scopes("openid offline_access fruits:read", request) == ["fruits:write"]
    assert missing_scopes("fruits:write fruits:read basic", request) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> tuple[GrantStore, Clock]:
    clock = Clock()
    return GrantStore(Session(create_engine("sqlite://")), clock=clock), clock


def test_a_grant_is_kept_with_its_encrypted_token_and_listed_without_it(store) -> None:
    grants, clock = store
    grant = grants.add("curator", GrantRequest("nightly", ("fruits:read",), 2), b"sealed")
    assert (grant.state, grant.deadline) == (ACTIVE, clock.now + 2 * DAY)
    [listed] = grants.list("curator")
    assert listed == grant
    assert "sealed" not in str(listed.to_json())
    assert grants.token("curator", grant.id) == b"sealed"
    assert grants.list("reader") == [] and grants.token("reader", grant.id) is None
    assert grants.active_named("curator", "nightly") == grant


def test_a_grant_past_its_deadline_is_listed_expired(store) -> None:
    grants, clock = store
    grants.add("curator", GrantRequest("nightly", ("fruits:read",), 1), b"sealed")
    clock.now += DAY
    [listed] = grants.list("curator")
    assert listed.state == EXPIRED and listed.reason == "its deadline passed"
    assert grants.active_named("curator", "nightly") is None


def test_an_ended_grant_loses_its_token_and_says_why(store) -> None:
    grants, _ = store
    grant = grants.add("curator", GrantRequest("nightly", ("fruits:read",), 1), b"sealed")
    assert grants.end("reader", grant.id, REVOKED, "x") is False  # only its owner's
    assert grants.end("curator", grant.id, REVOKED, "revoked by you") is True
    [listed] = grants.list("curator")
    assert (listed.state, listed.reason) == (REVOKED, "revoked by you")
    assert grants.token("curator", grant.id) is None


# --- the way through Keycloak (hubbroker.grant_handlers.GrantFlow) ------------------------


def flow() -> GrantFlow:
    return GrantFlow(
        client_secret="s",
        authorize_url="http://kc/auth",
        token_url="http://kc/token",
        revoke_url="http://kc/revoke",
        redirect_uri="http://hub/hub/grants/callback",
        http=None,  # type: ignore[arg-type]
    )


def test_a_grant_goes_to_keycloak_for_a_fresh_sign_in_and_the_consent_screen() -> None:
    grants = flow()
    url = urlparse(grants.start("curator", GrantRequest("n", ("fruits:read",), 1)))
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert (url.netloc, url.path) == ("kc", "/auth")
    assert query["client_id"] == JOBS_CLIENT
    assert query["prompt"] == "login consent"
    assert query["scope"] == "openid offline_access fruits:read"
    assert query["redirect_uri"] == "http://hub/hub/grants/callback"
    assert query["code_challenge_method"] == "S256"
    pending = grants.pending[query["state"]]
    assert query["code_challenge"] == create_s256_code_challenge(pending.verifier)


def test_a_confirmation_comes_back_once_and_only_to_its_user() -> None:
    grants = flow()
    url = grants.start("curator", GrantRequest("n", ("fruits:read",), 1))
    state = parse_qs(urlparse(url).query)["state"][0]
    assert grants.back(state, "reader") is None  # another user's: refused, and kept
    assert grants.back("forged", "curator") is None
    assert grants.back(state, "curator").user == "curator"
    assert grants.back(state, "curator") is None  # used once


def test_an_old_confirmation_is_forgotten() -> None:
    grants = flow()
    url = grants.start("curator", GrantRequest("n", ("fruits:read",), 1))
    state = parse_qs(urlparse(url).query)["state"][0]
    grants.pending[state].started -= PENDING_SECONDS + 1
    assert grants.back(state, "curator") is None
