"""`make down` then `make up` keeps Keycloak users, hub state and fruits (named volumes).

`make up` re-creates the demo users from idp/ and a login re-creates a hub user, so neither
proves anything about the volumes. What does: a Keycloak user created at run time (idp/ does
not define it), a JupyterHub API token (only the hub's database holds it; a login never
re-creates one) and a fruit (only the fruit API's database holds it).
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.keycloak_admin import StackAdmin, new_password
from tests.support.login_flows import create_api_token, hub_login, whoami
from tests.support.stack import REPO, Stack
from tests.support.token_exchange import curator_token


@pytest.fixture
def runtime_user(compose_stack: Stack) -> Iterator[tuple[str, Stack]]:
    """A Keycloak user in group hub-users that idp/ does not define, created now and deleted
    afterwards (from Keycloak and from the hub); with a Stack that knows its password."""
    username = f"rt{uuid.uuid4().hex[:8]}"
    password = new_password()
    admin = StackAdmin(compose_stack)
    assert not admin.user_ids("demo", username)
    admin.create_user("demo", username, password, ["hub-users"])
    secrets = {**compose_stack.secrets, f"DEMO_PASSWORD_{username.upper()}": password}
    try:
        yield username, dataclasses.replace(compose_stack, secrets=secrets)
    finally:
        admin.login()  # Keycloak restarted in between
        for user_id in admin.user_ids("demo", username):
            admin.delete_user("demo", user_id)
        admin.close()
        admin = hub_login(compose_stack, "hubadmin")
        gone = admin.request(
            "DELETE",
            f"{compose_stack.public_url}/hub/api/users/{username}",
            headers={"X-XSRFToken": admin.cookies["_xsrf"]},
        )
        assert gone.status_code in (204, 404), gone.text  # 404: the hub lost it (test failed)
        subprocess.run(  # a home volume exists only if a server was started; none should be
            ["docker", "volume", "rm", "-f", f"jupyterhub-user-{username}"],
            capture_output=True,
            check=False,
        )


def test_data_survives_down_and_up(compose_stack: Stack, runtime_user: tuple[str, Stack]) -> None:
    username, user_stack = runtime_user
    # Before: the run-time user logs in through Keycloak and creates a hub API token.
    browser = hub_login(user_stack, username)
    token = create_api_token(user_stack, browser, username, ["read:users!user"], note="persist")
    assert whoami(compose_stack, token).json()["name"] == username
    fruit = f"persimmon{uuid.uuid4().hex[:4]}"
    api = f"{compose_stack.public_url}/fruit-api/fruits/exotic"
    headers = {"Authorization": f"Bearer {curator_token(compose_stack)}"}
    assert httpx.post(api, json={"name": fruit}, headers=headers).status_code == 201
    try:
        for target in ("down", "up"):
            done = subprocess.run(
                ["make", target, "RUNTIME=compose"], cwd=REPO, capture_output=True, text=True
            )
            assert done.returncode == 0, f"make {target}:\n{done.stdout[-3000:]}{done.stderr}"
        assert whoami(compose_stack, "not-a-token").status_code == 403  # the check can fail
        # The token made before answers for its user: the hub's database kept it. Asked first,
        # before any new login could touch the hub's state.
        me = whoami(compose_stack, token)
        assert me.status_code == 200, me.text
        assert me.json()["name"] == username
        # The run-time user still logs in: Keycloak's database kept it (idp/ does not know it).
        hub_login(user_stack, username)
        # The fruit is still listed: the fruit API's volume kept it.
        headers = {"Authorization": f"Bearer {curator_token(compose_stack)}"}
        assert fruit in httpx.get(api, headers=headers).json()["fruits"]
    finally:
        headers = {"Authorization": f"Bearer {curator_token(compose_stack)}"}
        httpx.delete(f"{api}/{fruit}", headers=headers)
