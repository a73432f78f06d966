"""Groups are matched by path: a subgroup named like a top-level group (``/lab/hub-admins``)
grants nothing that group grants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.keycloak_admin import StackAdmin, new_password
from tests.support.login_flows import CookieCarrier, hub_session
from tests.support.stack import Stack


@pytest.fixture
def impostor(compose_stack: Stack) -> Iterator[tuple[str, CookieCarrier]]:
    """A hub user who is a member of /hub-users and of a subgroup /lab-X/hub-admins."""
    realm = compose_stack.realm
    admin = StackAdmin(compose_stack)
    lab = admin.create_group(realm, f"lab-{uuid.uuid4().hex[:6]}")
    sub = admin.create_group(realm, "hub-admins", parent_id=lab)
    username = f"impostor-{uuid.uuid4().hex[:6]}"
    password = new_password()
    user_id = admin.create_user(realm, username, password, ["hub-users"])
    admin.join(realm, user_id, sub)
    try:
        secrets = {**compose_stack.secrets, f"DEMO_PASSWORD_{username.upper()}": password}
        stack = Stack(**{**vars(compose_stack), "secrets": secrets})
        yield username, hub_session(stack, username)
    finally:
        admin.delete_user(realm, user_id)
        admin.delete_group(realm, lab)
        admin.close()


def test_a_subgroup_named_hub_admins_grants_no_admin_rights(
    compose_stack: Stack, impostor: tuple[str, CookieCarrier]
) -> None:
    username, browser = impostor
    headers = {"X-XSRFToken": browser.cookies["_xsrf"]}
    me = browser.request("GET", f"{compose_stack.public_url}/hub/api/user", headers=headers)
    assert me.status_code == 200
    groups = set(me.json()["groups"])
    assert "hub-users" in groups  # control: the login and the group sync worked
    assert "hub-admins" not in groups
    assert any(g.endswith("/hub-admins") for g in groups), groups  # known, by its path
    assert "hub-admin" not in me.json().get("roles", [])
    admin_page = browser.request("GET", f"{compose_stack.public_url}/hub/admin")
    assert admin_page.status_code == 403
    users = browser.request("GET", f"{compose_stack.public_url}/hub/api/users", headers=headers)
    assert users.status_code == 403
