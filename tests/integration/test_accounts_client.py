"""The hub's accounts client (the Access requests page's service account) has least rights.

idp/realms/demo/admin-permissions.yml lets it list the members of the pending and the allowed
group, move a member from one to the other, and enable, disable or sign out a member. Each
test here passes only when Keycloak refuses the wider action (HTTP 403), or, for what it may
do, when it works.
"""

from __future__ import annotations

import secrets

import pytest

from stackconf import settings as conf
from tests.support import keycloak_users
from tests.support.stack import Stack

CLIENT = conf.get("ACCOUNTS_CLIENT_ID")
PENDING = conf.get("HUB_PENDING_GROUP")
ALLOWED = conf.get_list("HUB_ALLOWED_GROUPS")[0]


def as_client(stack: Stack, *requests: tuple) -> list[tuple[int, object]]:
    secret = stack.secrets["JUPYTERHUB_ACCOUNTS_CLIENT_SECRET"]
    return keycloak_users.calls_as_client(stack, CLIENT, secret, *requests)


@pytest.fixture(scope="module")
def ids(stack: Stack) -> dict[str, str]:
    """Group ids (by name) and a user in no group, made by the bootstrap admin."""
    [(status, groups)] = keycloak_users.calls(stack, ("GET", "/demo/groups"))
    assert status == 200
    found = {g["name"]: g["id"] for g in groups}
    loner = f"loner-{secrets.token_hex(3)}"
    made = keycloak_users.users(
        stack, create=[{"username": loner, "password": "Loner-pw-12345", "groups": []}]
    )
    # New accounts join the realm's default group (the pending one): this one leaves it.
    [(status, _)] = keycloak_users.calls(
        stack, ("DELETE", f"/demo/users/{made[loner]}/groups/{found[PENDING]}")
    )
    assert status == 204
    yield {**found, "loner": made[loner]}
    keycloak_users.users(stack, delete=[loner])


def test_it_lists_the_members_of_its_two_groups(stack: Stack, ids: dict[str, str]) -> None:
    answers = as_client(
        stack,
        ("GET", f"/demo/groups/{ids[PENDING]}/members"),
        ("GET", f"/demo/groups/{ids[ALLOWED]}/members"),
    )
    assert [status for status, _ in answers] == [200, 200]
    assert "reader" in {u["username"] for u in answers[1][1]}


def test_it_cannot_read_other_groups_members_or_other_users(
    stack: Stack, ids: dict[str, str]
) -> None:
    answers = as_client(
        stack,
        ("GET", f"/demo/groups/{ids['hub-admins']}/members"),
        ("GET", f"/demo/groups/{ids['fruit-curators']}/members"),
        ("GET", "/demo/users"),
        ("GET", f"/demo/users/{ids['loner']}"),
        ("GET", "/demo/groups"),
    )
    assert [status for status, _ in answers] == [403] * 5, answers


def test_it_cannot_create_clients_or_groups_or_read_clients(
    stack: Stack, ids: dict[str, str]
) -> None:
    evil = f"evil-{secrets.token_hex(3)}"
    answers = as_client(
        stack,
        ("POST", "/demo/clients", {"clientId": evil, "publicClient": True}),
        ("GET", "/demo/clients"),
        ("POST", "/demo/groups", {"name": evil}),
        ("PUT", f"/demo/groups/{ids['hub-admins']}", {"name": "hub-admins", "attributes": {}}),
    )
    assert [status for status, _ in answers] == [403] * 4, answers


def test_it_cannot_change_roles_or_make_anyone_an_admin(
    stack: Stack, ids: dict[str, str]
) -> None:
    [(status, reader)] = as_client(stack, ("GET", f"/demo/groups/{ids[ALLOWED]}/members"))
    reader_id = next(u["id"] for u in reader if u["username"] == "reader")
    answers = as_client(
        stack,
        ("GET", "/demo/roles"),
        ("POST", "/demo/roles", {"name": "evil-role"}),
        ("POST", f"/demo/users/{reader_id}/role-mappings/realm", [{"name": "hub-admin"}]),
        ("PUT", f"/demo/users/{reader_id}/groups/{ids['hub-admins']}"),
        ("PUT", f"/demo/users/{reader_id}/groups/{ids['fruit-curators']}"),
        ("PUT", f"/demo/users/{ids['loner']}/groups/{ids[ALLOWED]}"),
    )
    assert [status for status, _ in answers] == [403] * 6, answers
    [(status, groups)] = keycloak_users.calls(stack, ("GET", f"/demo/users/{reader_id}/groups"))
    assert {g["name"] for g in groups} == {"hub-users", "fruit-readers"}  # unchanged


def test_it_approves_and_blocks_a_pending_account(stack: Stack, ids: dict[str, str]) -> None:
    """What the Access requests page does, and only that: a pending account joins the
    allowed group and leaves the pending one; a member is disabled and signed out."""
    name = f"pending-{secrets.token_hex(3)}"
    made = keycloak_users.users(
        stack, create=[{"username": name, "password": "Pending-pw-1234", "groups": [PENDING]}]
    )
    uid = made[name]
    try:
        [(status, account)] = as_client(stack, ("GET", f"/demo/users/{uid}"))
        assert status == 200
        answers = as_client(
            stack,
            ("PUT", f"/demo/users/{uid}/groups/{ids[ALLOWED]}"),
            ("DELETE", f"/demo/users/{uid}/groups/{ids[PENDING]}"),
            ("PUT", f"/demo/users/{uid}", {**account, "enabled": False}),
            ("POST", f"/demo/users/{uid}/logout"),
        )
        assert [status for status, _ in answers] == [204] * 4, answers
        [(_, groups), (_, user)] = keycloak_users.calls(
            stack, ("GET", f"/demo/users/{uid}/groups"), ("GET", f"/demo/users/{uid}")
        )
        assert {g["name"] for g in groups} == {ALLOWED}
        assert user["enabled"] is False
    finally:
        keycloak_users.users(stack, delete=[name])
