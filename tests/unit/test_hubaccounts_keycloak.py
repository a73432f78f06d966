"""The Access requests page's Keycloak client, against a fake admin API (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from hubaccounts.keycloak import Account, AccountsClient, AccountsError

KC = "http://keycloak.test/auth"
ADMIN = f"{KC}/admin/realms/demo"
TOKEN = f"{KC}/realms/demo/protocol/openid-connect/token"


@pytest.fixture
def client() -> AccountsClient:
    return AccountsClient(KC, "demo", "jupyterhub-accounts", "s3cret")


@pytest.fixture
def kc():
    with respx.mock(assert_all_called=False) as mock:
        mock.post(TOKEN).respond(
            json={"access_token": "sa-token", "token_type": "Bearer", "expires_in": 300}
        )
        mock.get(f"{ADMIN}/group-by-path/hub-requests").respond(json={"id": "g-pending"})
        mock.get(f"{ADMIN}/group-by-path/hub-users").respond(json={"id": "g-users"})
        yield mock


async def test_members_are_listed_as_accounts_with_the_service_accounts_token(client, kc):
    members = kc.get(f"{ADMIN}/groups/g-pending/members").respond(
        json=[
            {"id": "2", "username": "zoe", "enabled": True, "firstName": "Zoe"},
            {"id": "1", "username": "ann", "enabled": False, "email": "ann@example.org"},
        ]
    )
    accounts = await client.members("hub-requests")
    assert accounts == [
        Account(id="1", username="ann", email="ann@example.org", name="", enabled=False),
        Account(id="2", username="zoe", email="", name="Zoe", enabled=True),
    ]
    assert members.calls.last.request.headers["Authorization"] == "Bearer sa-token"
    token_request = kc.calls[0].request
    assert b"grant_type=client_credentials" in token_request.content


async def test_a_group_id_is_asked_once(client, kc):
    kc.get(f"{ADMIN}/groups/g-pending/members").respond(json=[])
    await client.members("hub-requests")
    await client.members("hub-requests")
    lookups = [c for c in kc.calls if "group-by-path" in str(c.request.url)]
    assert len(lookups) == 1


async def test_approving_adds_to_the_allowed_group_before_leaving_the_pending_one(client, kc):
    add = kc.put(f"{ADMIN}/users/u1/groups/g-users").respond(204)
    leave = kc.delete(f"{ADMIN}/users/u1/groups/g-pending").respond(204)
    await client.move("u1", "hub-requests", "hub-users")
    assert add.called and leave.called
    order = [c.request.method for c in kc.calls if "/users/u1/groups" in str(c.request.url)]
    assert order == ["PUT", "DELETE"]


async def test_disabling_sends_the_whole_account_and_skips_an_account_already_so(client, kc):
    account = {"id": "u1", "username": "bob", "enabled": True, "email": "b@example.org"}
    kc.get(f"{ADMIN}/users/u1").respond(json=account)
    put = kc.put(f"{ADMIN}/users/u1").respond(204)
    await client.set_enabled("u1", False)
    assert json.loads(put.calls.last.request.content) == {**account, "enabled": False}
    kc.get(f"{ADMIN}/users/u1").respond(json={**account, "enabled": False})
    await client.set_enabled("u1", False)
    assert put.call_count == 1


async def test_a_refusal_names_the_permissions_file(client, kc):
    kc.get(f"{ADMIN}/groups/g-users/members").respond(403, json={"error": "forbidden"})
    with pytest.raises(AccountsError, match=r"HTTP 403.*admin-permissions\.yml"):
        await client.members("hub-users")


async def test_keycloak_down_is_a_clear_error(client, kc):
    kc.get(f"{ADMIN}/groups/g-users/members").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(AccountsError, match="down or not answering"):
        await client.members("hub-users")


async def test_a_refused_client_secret_names_the_setting():
    with respx.mock() as kc:
        kc.post(TOKEN).respond(401, json={"error": "unauthorized_client"})
        client = AccountsClient(KC, "demo", "jupyterhub-accounts", "wrong")
        with pytest.raises(AccountsError, match="ACCOUNTS_CLIENT_SECRET"):
            await client.members("hub-users")
