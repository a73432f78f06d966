"""Job grants at the real Keycloak (issue 25, docs/jobs.md): what the job-grants client
(jupyterhub-jobs) gets and is refused, as idp/apis.yml's `jobs:` policy makes it.

A grant is an offline session of that client, opened with a fresh sign-in and the consent
screen; a job's API token is a refresh of the grant's offline token narrowed to one API's
scopes. These tests prove the Keycloak side the hub builds on: the narrowing, the policy
(a scope without `jobs:` is never granted), the user's roles still deciding, a grant that
outlives the browser's session, and revocation of one grant that leaves the others."""

from __future__ import annotations

import httpx
import pytest

from apiregistry import JOBS_CLIENT
from tests.integration.idp_helpers import admin
from tests.support.job_grants import GrantFlow, Refused
from tests.support.stack import Stack
from tests.support.token_exchange import MINTED_CLAIMS
from tokencontract.claims import unverified_claims


def fruits(stack: Stack, token: str, method: str = "GET") -> httpx.Response:
    """Read the usual fruits (GET), or try to add one (POST: needs fruits:write)."""
    return httpx.request(
        method,
        f"{stack.public_url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": "never-added"} if method == "POST" else None,
    )


def narrowed(flow: GrantFlow, offline: str, scope: str) -> tuple[dict, str]:
    """The claims of an access token refreshed for ``scope``, and the next offline token
    (each refresh rotates it: the realm allows no reuse)."""
    response = flow.refresh(offline, scope)
    assert response.status_code == 200, response.text
    body = response.json()
    return unverified_claims(body["access_token"]) | {"_token": body["access_token"]}, body[
        "refresh_token"
    ]


@pytest.fixture
def curator(stack: Stack) -> GrantFlow:
    return GrantFlow(stack, "curator")


def test_a_grant_is_an_offline_session_shown_on_the_consent_screen(curator: GrantFlow) -> None:
    tokens = curator.grant("fruits:read fruits:write")
    offline = unverified_claims(tokens["refresh_token"])
    assert offline["typ"] == "Offline"
    assert offline["azp"] == JOBS_CLIENT
    assert set(offline["scope"].split()) >= {"offline_access", "fruits:read", "fruits:write"}
    # What the user agreed to, in the words of idp/apis.yml (the scopes' descriptions).
    assert "Offline Access" in curator.consented
    assert "Read the usual fruit list" in curator.consented
    assert "Add and delete fruits" in curator.consented


def test_a_refresh_narrowed_to_one_scope_is_that_apis_token_and_nothing_more(
    stack: Stack, curator: GrantFlow
) -> None:
    offline = curator.grant("fruits:read fruits:write")["refresh_token"]
    read, offline = narrowed(curator, offline, "fruits:read")
    assert (read["aud"], read["scope"], read["azp"]) == ("fruit-api", "fruits:read", JOBS_CLIENT)
    # Exactly the claims of a token the broker exchanges: the subject and the API's, no more.
    assert set(read) - {"_token"} == MINTED_CLAIMS
    assert read["exp"] - read["iat"] == 300
    assert fruits(stack, read["_token"]).status_code == 200
    # The same token may not write: the refresh gave it fruits:read only...
    refused = fruits(stack, read["_token"], "POST")
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "insufficient_scope"
    # ...while the grant still holds fruits:write for the refresh that asks for it.
    write, _ = narrowed(curator, offline, "fruits:write")
    assert write["scope"] == "fruits:write"


def test_a_scope_whose_policy_forbids_jobs_is_never_granted(curator: GrantFlow) -> None:
    """fruits:exotic has no jobs: policy, so it is no scope of the job-grants client: the
    curator, who holds its role, cannot put it in a grant, nor get it by refresh."""
    with pytest.raises(Refused) as refused:
        curator.grant("fruits:read fruits:exotic")
    assert refused.value.error == "invalid_scope"
    # Positive control: the same grant without it is made, and refreshes for what it holds.
    offline = curator.grant("fruits:read")["refresh_token"]
    assert curator.refresh(offline, "fruits:exotic").json()["error"] == "invalid_scope"


def test_the_users_roles_still_decide(stack: Stack) -> None:
    """reader lacks fruit-writer: a grant asking for fruits:write does not get it."""
    reader = GrantFlow(stack, "reader")
    offline = reader.grant("fruits:read fruits:write")["refresh_token"]
    assert "fruits:write" not in unverified_claims(offline)["scope"].split()
    read, offline = narrowed(reader, offline, "fruits:read")
    assert read["scope"] == "fruits:read"
    write, _ = narrowed(reader, offline, "fruits:write")
    assert "fruits:write" not in write.get("scope", "").split()
    assert fruits(stack, write["_token"], "POST").status_code in (401, 403)


def test_grants_outlive_the_browser_session_and_are_revoked_one_by_one(
    curator: GrantFlow,
) -> None:
    first = curator.grant("fruits:read")
    second = curator.grant("fruits:read")
    ids = {unverified_claims(t["refresh_token"])["sid"] for t in (first, second)}
    assert len(ids) == 2, "each grant is an offline session of its own"
    assert curator.log_out(second["id_token"]).status_code == 200
    _, first_offline = narrowed(curator, first["refresh_token"], "fruits:read")
    _, second_offline = narrowed(curator, second["refresh_token"], "fruits:read")
    assert curator.revoke(second_offline).status_code == 200
    gone = curator.refresh(second_offline, "fruits:read")
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant", gone.text
    narrowed(curator, first_offline, "fruits:read")  # the other grant goes on


def test_a_reused_offline_token_ends_its_grant(curator: GrantFlow) -> None:
    """The realm rotates refresh tokens with no reuse: an offline token copied and used
    after the hub refreshed it ends the grant (the hub saves each new one before use)."""
    old = curator.grant("fruits:read")["refresh_token"]
    _, newest = narrowed(curator, old, "fruits:read")
    reused = curator.refresh(old, "fruits:read")
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    ended = curator.refresh(newest, "fruits:read")
    assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant", ended.text


def introspect(flow: GrantFlow, offline: str) -> dict:
    """What the hub asks to list a grant (RFC 7662): it rotates nothing."""
    answer = httpx.post(
        f"{flow.stack.issuer}/protocol/openid-connect/token/introspect",
        data={"token": offline, "token_type_hint": "refresh_token"},
        auth=(JOBS_CLIENT, flow.secret),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_introspection_tells_a_live_grant_from_one_revoked_at_keycloak(
    stack: Stack, curator: GrantFlow
) -> None:
    """The hub lists a grant revoked in Keycloak (the admin console's or the account
    console's "revoke consent") as ended, by introspecting its offline token."""
    offline = curator.grant("fruits:read")["refresh_token"]
    assert introspect(curator, offline)["active"] is True  # positive control
    assert introspect(curator, offline)["active"] is True  # asking again changes nothing
    _, offline = narrowed(curator, offline, "fruits:read")  # ... nor was the token rotated
    assert introspect(curator, offline)["active"] is True
    kc = admin(stack)
    [user] = kc.get("/demo/users", username="curator", exact="true")
    kc.delete(f"/demo/users/{user['id']}/consents/{JOBS_CLIENT}")
    assert introspect(curator, offline)["active"] is False
