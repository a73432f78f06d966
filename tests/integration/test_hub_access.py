"""Keycloak groups decide who may use the hub and who administers it."""

from __future__ import annotations

from tests.support.login_flows import hub_session
from tests.support.stack import Stack


def test_hub_admins_group_grants_the_admin_page(stack: Stack) -> None:
    admin = hub_session(stack, "hubadmin")
    assert admin.request("GET", f"{stack.public_url}/hub/admin").status_code == 200
    reader = hub_session(stack, "reader")
    assert reader.request("GET", f"{stack.public_url}/hub/admin").status_code == 403


def test_keycloak_groups_become_hub_groups(stack: Stack) -> None:
    hub_session(stack, "curator")  # the hub learns a user's groups at login
    admin = hub_session(stack, "hubadmin")
    response = admin.request(
        "GET",
        f"{stack.public_url}/hub/api/users/curator",
        headers={"X-XSRFToken": admin.cookies["_xsrf"]},
    )
    assert response.status_code == 200, response.text
    assert {"hub-users", "fruit-curators"} <= set(response.json()["groups"])
    assert response.json()["admin"] is False
