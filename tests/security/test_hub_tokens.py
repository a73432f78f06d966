"""A leaked JupyterHub API token does not live for ever: tokens users create expire, and
logging out revokes them and stops the user's servers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from stackconf import settings as conf
from tests.compose.conftest import docker
from tests.support.login_flows import CookieCarrier, create_api_token, hub_session
from tests.support.stack import Stack

EXCHANGE = ["custom:token-exchange!user"]


def api(stack: Stack, browser: CookieCarrier, method: str, path: str, **kwargs):
    headers = {"X-XSRFToken": browser.cookies["_xsrf"]}
    return browser.request(method, f"{stack.public_url}/hub/api{path}", headers=headers, **kwargs)


def whoami(stack: Stack, token: str) -> int:
    return httpx.get(
        f"{stack.public_url}/hub/api/user", headers={"Authorization": f"token {token}"}
    ).status_code


def log_out(stack: Stack, browser: CookieCarrier) -> None:
    """What the hub's logout button does (the browser would then go on to Keycloak)."""
    response = browser.request(
        "POST", f"{stack.public_url}/hub/logout", data={"_xsrf": browser.cookies["_xsrf"]}
    )
    assert response.status_code == 302, response.status_code
    assert "/protocol/openid-connect/logout" in response.headers["location"]


def logged_in(stack: Stack, browser: CookieCarrier) -> bool:
    """Whether the browser's hub cookie still authenticates it."""
    headers = {"X-XSRFToken": browser.cookies.get("_xsrf", "")}
    response = browser.request("GET", f"{stack.public_url}/hub/api/user", headers=headers)
    return response.status_code == 200


@pytest.mark.parametrize("forged", ["GET", "POST without the XSRF token"])
def test_another_site_cannot_log_a_user_out(compose_stack: Stack, forged: str) -> None:
    """A link or an auto-submitted form on another site sends the browser (with its cookies)
    to /hub/logout: a GET only shows the question, and a POST without the page's XSRF token
    is refused. The user stays logged in (control: the real button logs out)."""
    browser = hub_session(compose_stack, "hubadmin")
    url = f"{compose_stack.public_url}/hub/logout"
    if forged == "GET":
        response = browser.request("GET", url)
        assert response.status_code == 200 and 'id="logout-confirm"' in response.text
    else:
        response = browser.request("POST", url, data={})
        assert response.status_code == 403, response.status_code
    assert logged_in(compose_stack, browser)
    log_out(compose_stack, browser)
    assert not logged_in(compose_stack, browser)


def wait_until_stopped(stack: Stack, user: str, timeout: float = 60) -> dict:
    admin = hub_session(stack, "hubadmin")
    deadline = time.monotonic() + timeout
    while True:
        servers = api(stack, admin, "GET", f"/users/{user}").json()["servers"]
        if not servers or time.monotonic() > deadline:
            return servers
        time.sleep(1)


MAX_LIFETIME = conf.get_int("HUB_TOKEN_MAX_LIFETIME")


@pytest.mark.parametrize("expires_in", [0, MAX_LIFETIME + 1, 10 * 365 * 86400])
def test_a_token_that_outlives_the_maximum_is_refused(compose_stack: Stack, expires_in) -> None:
    reader = hub_session(compose_stack, "reader")
    body = {"scopes": EXCHANGE, "note": "long-lived", "expires_in": expires_in}
    response = api(compose_stack, reader, "POST", "/users/reader/tokens", json=body)
    assert response.status_code == 400, (expires_in, response.status_code, response.text)
    assert "token" not in response.json()
    # Control: a token within the maximum is created (so the refusal above is the limit's).
    assert create_api_token(compose_stack, reader, "reader", EXCHANGE, expires_in=3600)


def test_a_token_asked_without_expiry_gets_the_maximum(compose_stack: Stack) -> None:
    reader = hub_session(compose_stack, "reader")
    body = {"scopes": EXCHANGE, "note": "no expiry asked"}
    response = api(compose_stack, reader, "POST", "/users/reader/tokens", json=body)
    assert response.status_code == 201, response.text
    expires_at = datetime.fromisoformat(response.json()["expires_at"].replace("Z", "+00:00"))
    left = (expires_at - datetime.now(UTC)).total_seconds()
    assert 0 < left <= MAX_LIFETIME + 5, left


def test_logout_revokes_the_tokens_the_user_created(compose_stack: Stack) -> None:
    curator = hub_session(compose_stack, "curator")
    token = create_api_token(compose_stack, curator, "curator", EXCHANGE, expires_in=3600)
    assert whoami(compose_stack, token) == 200  # control: the token works before logout
    log_out(compose_stack, curator)
    assert whoami(compose_stack, token) == 403
    mint = httpx.post(
        f"{compose_stack.public_url}/hub/api/token-exchange",
        json={"audience": "fruit-api", "scope": "fruits:read"},
        headers={"Authorization": f"token {token}"},
    )
    assert mint.status_code in (401, 403), mint.text
    assert "access_token" not in mint.text


def test_logout_stops_the_users_servers(compose_stack: Stack) -> None:
    assert conf.get_bool("HUB_STOP_SERVERS_ON_LOGOUT"), "the stack keeps servers after logout"
    curator = hub_session(compose_stack, "curator")
    api(compose_stack, curator, "POST", "/users/curator/server")
    deadline = time.monotonic() + 120
    while (
        not api(compose_stack, curator, "GET", "/user").json()["servers"].get("", {}).get("ready")
    ):
        assert time.monotonic() < deadline, "the curator's server did not start"
        time.sleep(1)
    running = docker("ps", "--filter", "name=jupyter-curator", "--format", "{{.Names}}")
    assert running.stdout.split(), "control: the server's container runs before logout"
    log_out(compose_stack, curator)
    assert wait_until_stopped(compose_stack, "curator") == {}
    gone = docker("ps", "--filter", "name=jupyter-curator", "--format", "{{.Names}}")
    assert gone.stdout.split() == []
