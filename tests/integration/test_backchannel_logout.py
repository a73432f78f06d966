"""Back-channel logout: a session that ends in Keycloak (here: an admin signs the user out,
as Keycloak's admin console does) ends in the hub at once, without the hub's logout page:
Keycloak POSTs a signed logout token to the hub, which revokes the user like a logout."""

from __future__ import annotations

import time

import httpx

from stackconf import settings as conf
from tests.integration.idp_helpers import admin, mint
from tests.support.login_flows import create_api_token, hub_session
from tests.support.servers import ServerNotRunning, server_environment, start_server
from tests.support.stack import Stack

USER = "curator"


def test_a_session_ended_in_keycloak_is_ended_in_the_hub(stack: Stack) -> None:
    browser = hub_session(stack, USER)
    start_server(stack, USER, browser=browser)
    assert mint(stack, USER, "fruit-api", "fruits:read").status_code == 200  # control
    server = server_environment(USER)
    made = create_api_token(stack, browser, USER, ["read:users!user"], note="backchannel")
    api = f"{stack.public_url}/hub/api/users/{USER}"
    assert httpx.get(api, headers={"Authorization": f"token {made}"}).status_code == 200

    kc = admin(stack)
    (account,) = kc.get(f"/{stack.realm}/users", username=USER, exact="true")
    kc.post(f"/{stack.realm}/users/{account['id']}/logout", {})

    # Keycloak called the hub: the user's servers stop, the tokens the user made are revoked,
    # and the server's own token mints nothing more.
    deadline = time.monotonic() + 15
    while httpx.get(api, headers={"Authorization": f"token {made}"}).status_code == 200:
        assert time.monotonic() < deadline, "the hub was not told within 15 s"
        time.sleep(0.5)
    minted = httpx.post(
        server["JUPYTERHUB_API_URL"] + "/token-exchange",
        json={"audience": "fruit-api", "scope": "fruits:read"},
        headers={"Authorization": f"token {server['JUPYTERHUB_API_TOKEN']}"},
    )
    assert minted.status_code in (401, 403), minted.text
    assert "access_token" not in minted.text
    # The server stops (HUB_STOP_SERVERS_ON_LOGOUT, as at a logout in the hub).
    while True:
        try:
            server_environment(USER)
        except ServerNotRunning:
            break
        assert time.monotonic() < deadline + 15, "the hub did not stop the user's server"
        time.sleep(0.5)
    # The hub session of the browser is over too: its next API call is refused.
    xsrf = {"X-XSRFToken": browser.cookies["_xsrf"]}
    assert browser.request("GET", api, headers=xsrf).status_code == 403


def test_a_forged_logout_token_revokes_nothing(stack: Stack) -> None:
    browser = hub_session(stack, "reader")
    made = create_api_token(stack, browser, "reader", ["read:users!user"], note="forged")
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."  # alg none, any sub
    # Where Keycloak calls it (the hub's own address; the public entrypoint refuses the path).
    response = httpx.post(
        conf.get("HUB_INTERNAL_URL") + "/hub/backchannel-logout", data={"logout_token": forged}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    api = f"{stack.public_url}/hub/api/users/reader"
    assert httpx.get(api, headers={"Authorization": f"token {made}"}).status_code == 200
