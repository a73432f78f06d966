"""Job grants on the hub (issue 25, docs/jobs.md): the Job grants page makes a grant only for
the hub user who signed in again at Keycloak, only within idp/apis.yml's jobs: policy, and
keeps nothing that was not confirmed.

Positive control first: the curator's own grant is made (listed active, one more offline
session of the job-grants client in Keycloak) and revoked (listed revoked, the session gone),
so each refusal below is the check at work, not a broken page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from apiregistry import JOBS_CLIENT
from tests.support.job_grants import create_on_the_hub, hub_grants_page
from tests.support.keycloak_admin import StackAdmin
from tests.support.login_flows import CookieCarrier, hub_api_token, hub_session
from tests.support.servers import call_as_server
from tests.support.stack import Stack

OWNER, OTHER = "curator", "reader"


@pytest.fixture(scope="module")
def kc(stack: Stack) -> Iterator[StackAdmin]:
    admin = StackAdmin(stack)
    yield admin
    admin.close()


def offline_sessions(kc: StackAdmin, user: str) -> int:
    """The user's offline sessions of the job-grants client: one per grant Keycloak holds."""
    [client] = kc.get("clients", "demo", clientId=JOBS_CLIENT)
    [account] = kc.get("users", "demo", username=user, exact="true")
    return len(kc.get(f"users/{account['id']}/offline-sessions/{client['id']}", "demo"))


def name() -> str:
    return f"sec-{uuid.uuid4().hex[:8]}"


def said(response) -> dict[str, str]:
    """The code the hub's redirect names (done= or error=)."""
    query = parse_qs(urlparse(response.headers.get("location", "")).query)
    return {key: values[0] for key, values in query.items()}


@pytest.fixture
def owner(stack: Stack) -> CookieCarrier:
    return hub_session(stack, OWNER)


def test_control_the_owners_grant_is_made_and_revoked(
    stack: Stack, owner: CookieCarrier, kc: StackAdmin
) -> None:
    before = offline_sessions(kc, OWNER)
    grant = name()
    back = create_on_the_hub(owner, stack, grant, ["fruits:read"], 2, sign_in_as=OWNER)
    assert said(back).get("done") == "created", back.headers.get("location")
    page = hub_grants_page(owner, stack, f"?done=created&grant={said(back)['grant']}")
    assert f"Grant {grant} is active until" in page.text
    assert offline_sessions(kc, OWNER) == before + 1
    revoked = owner.request(
        "POST",
        f"{stack.public_url}/hub/grants",
        data={"_xsrf": owner.cookies["_xsrf"], "action": "revoke", "grant": said(back)["grant"]},
    )
    assert said(revoked).get("done") == "revoked", revoked.text[:300]
    assert offline_sessions(kc, OWNER) == before


def test_signing_in_at_keycloak_as_another_account_makes_no_grant(
    stack: Stack, owner: CookieCarrier, kc: StackAdmin
) -> None:
    """The curator's hub session starts a grant, and the sign-in at Keycloak is reader's (a
    browser holding the curator's hub cookie without Keycloak's: a stolen or fixated hub
    session): the hub keeps nothing, and revokes what Keycloak made for reader."""
    before = offline_sessions(kc, OTHER)
    grant = name()
    back = create_on_the_hub(
        owner, stack, grant, ["fruits:read"], 1, sign_in_as=OTHER, browser_user=OWNER
    )
    assert said(back).get("error") == "other_account", back.headers.get("location")
    assert grant not in hub_grants_page(owner, stack).text
    assert offline_sessions(kc, OTHER) == before


def test_a_confirmation_declined_at_keycloak_makes_no_grant(
    stack: Stack, owner: CookieCarrier, kc: StackAdmin
) -> None:
    before = offline_sessions(kc, OWNER)
    grant = name()
    back = create_on_the_hub(
        owner, stack, grant, ["fruits:read"], 1, sign_in_as=OWNER, answer="cancel"
    )
    assert said(back).get("error") == "declined", back.headers.get("location")
    assert grant not in hub_grants_page(owner, stack).text
    assert offline_sessions(kc, OWNER) == before


def test_another_users_confirmation_is_not_accepted(stack: Stack, owner: CookieCarrier) -> None:
    """reader's browser brings back the state of a grant the curator started: the hub
    answers as for an unknown confirmation, and the curator's stays the curator's."""
    sent = owner.request(
        "POST",
        f"{stack.public_url}/hub/grants",
        data={"_xsrf": owner.cookies["_xsrf"], "action": "create", "name": name(),
              "scope": ["fruits:read"], "days": "1"},
    )  # fmt: skip
    state = parse_qs(urlparse(sent.headers["location"]).query)["state"][0]
    other = hub_session(stack, OTHER)
    back = other.request(
        "GET", f"{stack.public_url}/hub/grants/callback?state={state}&code=stolen-or-forged"
    )
    assert said(back).get("error") == "expired", back.headers.get("location")


@pytest.mark.parametrize(
    ("scopes", "days", "status", "says"),
    [
        (["fruits:exotic"], 1, 403, "fruits:exotic may not be granted to jobs"),
        (["fruits:read"], 8, 400, "may last 1 to 7 day(s)"),
        (["fruits:read", "fruits:write"], 2, 400, "(fruits:write: at most 1"),
    ],
)
def test_the_hub_refuses_what_the_policy_does_not_allow(
    stack: Stack, owner: CookieCarrier, scopes: list[str], days: int, status: int, says: str
) -> None:
    """Refused before Keycloak is asked: the answer is the page itself, saying why."""
    answer = create_on_the_hub(owner, stack, name(), scopes, days, sign_in_as=OWNER)
    assert answer.status_code == status, answer.text[:300]
    assert says in answer.text


def test_the_grants_api_revokes_only_the_callers_own_grant(
    stack: Stack, owner: CookieCarrier, kc: StackAdmin
) -> None:
    """reader's server names the curator's grant (by its id, and by its name): it is not
    found; the curator's own server then revokes it (positive control)."""
    grant = name()
    back = create_on_the_hub(owner, stack, grant, ["fruits:read"], 1, sign_in_as=OWNER)
    grant_id = said(back)["grant"]
    held = offline_sessions(kc, OWNER)
    for which in (grant_id, grant):
        refused = call_as_server(stack, OTHER, "DELETE", f"/grants/{which}")
        assert refused.status_code == 400 and "no job grant" in refused.json()["message"]
    listed = call_as_server(stack, OTHER, "GET", "/grants").json()["grants"]
    assert grant not in {g["name"] for g in listed}  # nor listed to reader
    assert offline_sessions(kc, OWNER) == held  # the grant lives on at Keycloak
    revoked = call_as_server(stack, OWNER, "DELETE", f"/grants/{grant_id}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked", revoked.text
    assert offline_sessions(kc, OWNER) == held - 1


def test_the_grants_api_needs_a_servers_own_token_or_the_browser(stack: Stack) -> None:
    """A token the user made with another scope (here read:users:activity) lists nothing;
    the server's own token does (positive control)."""
    token = hub_api_token(stack, OWNER, ["read:users:activity!user"])
    narrow = call_as_server(stack, OWNER, "GET", "/grants", token=token)
    assert narrow.status_code == 403 and narrow.json()["error"] == "forbidden", narrow.text
    assert call_as_server(stack, OWNER, "GET", "/grants").status_code == 200
