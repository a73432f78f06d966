"""A hub admin administers users and servers but cannot act as another user: no refresh
tokens (auth_state), no tokens for someone else, no access to someone else's server."""

from __future__ import annotations

import pytest

from tests.support.login_flows import CookieCarrier, hub_session
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def admin(compose_stack: Stack) -> CookieCarrier:
    hub_session(compose_stack, "reader")  # the victim exists in the hub, with auth_state
    return hub_session(compose_stack, "hubadmin")


def call(stack: Stack, browser: CookieCarrier, method: str, path: str, **kwargs):
    headers = {"X-XSRFToken": browser.cookies["_xsrf"]}
    return browser.request(method, f"{stack.public_url}/hub/api{path}", headers=headers, **kwargs)


def test_the_admin_can_administer(compose_stack: Stack, admin: CookieCarrier) -> None:
    """Not an attack: proves the sessions below are a working admin's (else every refusal
    would pass for the wrong reason)."""
    assert admin.request("GET", f"{compose_stack.public_url}/hub/admin").status_code == 200
    users = call(compose_stack, admin, "GET", "/users")
    assert users.status_code == 200 and "reader" in {u["name"] for u in users.json()}


def test_admin_cannot_read_a_users_refresh_token(compose_stack: Stack, admin) -> None:
    reader = call(compose_stack, admin, "GET", "/users/reader")
    assert reader.status_code == 200
    assert "auth_state" not in reader.json()
    assert "refresh_token" not in reader.text


def test_admin_is_not_a_jupyterhub_admin(compose_stack: Stack, admin) -> None:
    me = call(compose_stack, admin, "GET", "/user").json()
    assert me["name"] == "hubadmin" and me["admin"] is False
    assert "admin" not in me.get("roles", [])
    assert not {"admin:users", "admin:auth_state", "tokens"} & set(me.get("scopes", []))


def test_admin_cannot_create_a_token_for_another_user(compose_stack: Stack, admin) -> None:
    for scopes in ([], ["custom:token-exchange!user"], ["access:servers!user"]):
        response = call(
            compose_stack, admin, "POST", "/users/reader/tokens", json={"scopes": scopes}
        )
        assert response.status_code == 403, (scopes, response.status_code, response.text)


@pytest.mark.parametrize(
    "scope", ["custom:token-exchange!user=reader", "access:servers!user=reader", "admin:users"]
)
def test_admin_cannot_give_their_own_token_another_users_rights(
    compose_stack: Stack, admin, scope: str
) -> None:
    response = call(
        compose_stack, admin, "POST", "/users/hubadmin/tokens", json={"scopes": [scope]}
    )
    assert response.status_code in (400, 403), (scope, response.status_code, response.text)
    assert "token" not in response.json()


def test_admin_cannot_open_another_users_server(
    compose_stack: Stack, admin: CookieCarrier, reader_container: str
) -> None:
    """The reader's server runs; the admin's browser asks it for the reader's files."""
    url = f"{compose_stack.server_url('reader')}/api/contents"
    response = admin.follow(admin.request("GET", url))
    assert response.status_code == 403, (response.url, response.status_code)
    assert "fruits-demo.ipynb" not in response.text


def test_the_access_requests_page_says_no_words_from_its_url(
    compose_stack: Stack, admin: CookieCarrier
) -> None:
    """Review round three (issue 26, finding 11): the page showed its ``done`` and ``error``
    query strings, so a link could put any words in a hub admin's page (escaped, but
    believable: "call this number"). It now shows only its own texts, chosen by code. The
    control: a code it knows shows its text, in the same page."""
    url = f"{compose_stack.public_url}/hub/access-requests"
    bait = "Your session expired: call 555-0100 to confirm your admin account"
    page = admin.request("GET", url, params={"done": bait, "error": bait})
    assert page.status_code == 200 and "<h1>Access requests</h1>" in page.text
    assert "555-0100" not in page.text
    control = admin.request("GET", url, params={"error": "self"})
    assert control.status_code == 200
    assert "You cannot block or reject yourself." in control.text
