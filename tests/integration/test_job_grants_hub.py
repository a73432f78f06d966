"""The hub's Job grants page in this runtime (docs/jobs.md): a grant is made through
Keycloak's sign-in and consent screens, listed, and revoked. The attacks on the page are in
tests/security/test_job_grants.py (compose)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlparse

from tests.support.job_grants import create_on_the_hub, hub_grants_page
from tests.support.login_flows import hub_session
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
    assert "revoked: revoked by you" in hub_grants_page(browser, stack).text
