"""The hub's Job grants page in this runtime (docs/jobs.md): a grant is made through
Keycloak's sign-in and consent screens, listed, and revoked. The attacks on the page are in
tests/security/test_job_grants.py (compose)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlparse

from apiregistry import JOBS_CLIENT
from hubbroker.grant_tokens import ENDED_AT_KEYCLOAK, REVOKED_BY_OWNER
from tests.integration.idp_helpers import admin
from tests.support.job_grants import create_on_the_hub, hub_grants_page
from tests.support.login_flows import hub_session
from tests.support.servers import call_as_server
from tests.support.stack import Stack


def test_a_grant_is_made_listed_and_revoked(stack: Stack) -> None:
    browser = hub_session(stack, "curator")
    name = f"itest-{uuid.uuid4().hex[:8]}"
    back = create_on_the_hub(browser, stack, name, ["fruits:read"], 7, sign_in_as="curator")
    query = parse_qs(urlparse(back.headers.get("location", "")).query)
    assert query.get("done") == ["created"], back.headers.get("location")
    grant = query["grant"][0]
    page = hub_grants_page(browser, stack)
    assert page.status_code == 200
    assert f"<td>{name}</td>" in page.text and "<td>active</td>" in page.text.replace("\n", "")
    revoked = browser.request(
        "POST",
        f"{stack.public_url}/hub/grants",
        data={"_xsrf": browser.cookies["_xsrf"], "action": "revoke", "grant": grant},
    )
    assert "done=revoked" in revoked.headers.get("location", ""), revoked.text[:300]
    assert "revoked: revoked by its owner" in hub_grants_page(browser, stack).text


def test_the_grants_api_lists_starts_and_revokes_for_the_users_server(stack: Stack) -> None:
    """What `hubtokens grants` calls, with the server's own token."""
    browser = hub_session(stack, "curator")
    name = f"itest-{uuid.uuid4().hex[:8]}"
    create_on_the_hub(browser, stack, name, ["fruits:read"], 2, sign_in_as="curator")
    listed = call_as_server(stack, "curator", "GET", "/grants")
    assert listed.status_code == 200, listed.text
    [grant] = [g for g in listed.json()["grants"] if g["name"] == name]
    assert (grant["scopes"], grant["state"]) == (["fruits:read"], "active")
    assert set(grant) == {"id", "name", "scopes", "created_at", "deadline", "state", "reason"}
    started = call_as_server(
        stack, "curator", "POST", "/grants",
        json.dumps({"name": f"{name}-2", "scopes": ["fruits:read"], "days": 1}).encode(),
    )  # fmt: skip
    assert started.status_code == 200, started.text
    confirm = urlparse(started.json()["confirm_url"])
    query = parse_qs(confirm.query)
    assert confirm.path.endswith("/protocol/openid-connect/auth")
    assert (query["client_id"], query["prompt"]) == ([JOBS_CLIENT], ["login consent"])
    beyond = call_as_server(
        stack, "curator", "POST", "/grants",
        json.dumps({"name": f"{name}-3", "scopes": ["fruits:read"], "days": 8}).encode(),
    )  # fmt: skip
    assert beyond.status_code == 400 and "1 to 7 day" in beyond.json()["message"]
    for _ in range(2):  # revoking again answers the same
        revoked = call_as_server(stack, "curator", "DELETE", f"/grants/{name}")
        assert revoked.status_code == 200, revoked.text
        assert (revoked.json()["state"], revoked.json()["reason"]) == ("revoked", REVOKED_BY_OWNER)
    missing = call_as_server(stack, "curator", "DELETE", "/grants/no-such-grant")
    assert missing.status_code == 400 and "no job grant" in missing.json()["message"]


def test_a_grant_revoked_in_keycloak_is_listed_as_ended_there(stack: Stack) -> None:
    browser = hub_session(stack, "curator")
    name = f"itest-{uuid.uuid4().hex[:8]}"
    create_on_the_hub(browser, stack, name, ["fruits:read"], 1, sign_in_as="curator")
    kc = admin(stack)
    [user] = kc.get("/demo/users", username="curator", exact="true")
    kc.delete(f"/demo/users/{user['id']}/consents/{JOBS_CLIENT}")  # the admin console's revoke
    grants = {
        g["name"]: g for g in call_as_server(stack, "curator", "GET", "/grants").json()["grants"]
    }
    assert (grants[name]["state"], grants[name]["reason"]) == ("revoked", ENDED_AT_KEYCLOAK)
