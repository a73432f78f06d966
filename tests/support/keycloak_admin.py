"""Keycloak's admin REST API of the compose runtime's Keycloak, for the tests that change
Keycloak while the stack runs (users, groups, sessions).

In compose the admin API is not routed through Traefik; this host reaches Keycloak's own port
at the container's address on its Docker network (``idpctl.admin.KeycloakAdmin``, logged in
as the bootstrap admin). A REST call takes milliseconds where ``docker exec kcadm.sh`` took
about 3 s (a JVM per call).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from idpctl.admin import KeycloakAdmin, segment
from stackconf.secrets import demo_password
from tests.support.stack import Stack

KEYCLOAK_CONTAINER = "jupyterhub-keycloak-keycloak-1"
#: Keycloak's HTTP port and path inside the container (compose/compose.yml).
PORT, PATH = 8080, "/auth"


def container_address(container: str) -> str:
    """The container's address on one of its networks (it changes when it is re-created)."""
    found = subprocess.run(
        ["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, f"no container {container}: {found.stderr.strip()}"
    addresses = [n["IPAddress"] for n in json.loads(found.stdout).values() if n["IPAddress"]]
    assert addresses, f"{container} has no address: is it running?"
    return addresses[0]


class StackAdmin:
    """The bootstrap admin on the compose stack's Keycloak; realm-relative helpers."""

    def __init__(self, stack: Stack, container: str = KEYCLOAK_CONTAINER) -> None:
        self.stack = stack
        self.container = container
        self.login()

    def login(self) -> None:
        """(Re)log in: needed again after Keycloak restarts (its address may change)."""
        self.admin = KeycloakAdmin(
            f"http://{container_address(self.container)}:{PORT}{PATH}",
            self.stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
            self.stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        )

    def get(self, path: str, realm: str, **params: Any) -> Any:
        return self.admin.get(f"/{segment(realm)}/{path}", **params)

    def create_user(self, realm: str, username: str, password: str, groups: list[str]) -> str:
        """A new enabled user with a complete profile (no action needed at login); its id."""
        realm = segment(realm)
        created = self.admin.post(
            f"/{realm}/users",
            {
                "username": username,
                "enabled": True,
                "emailVerified": True,
                "firstName": "Run",
                "lastName": "Time",
                "email": f"{username}@example.org",
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
        )
        user_id = created.headers["Location"].rsplit("/", 1)[-1]
        for group in groups:
            found = [g for g in self.get("groups", realm, search=group) if g["name"] == group]
            assert found, f"no group {group} in realm {realm}"
            self.join(realm, user_id, found[0]["id"])
        return user_id

    def join(self, realm: str, user_id: str, group_id: str) -> None:
        """Make the user a member of the group (any level)."""
        self.admin.put(f"/{segment(realm)}/users/{segment(user_id)}/groups/{segment(group_id)}")

    def create_group(self, realm: str, name: str, parent_id: str | None = None) -> str:
        """A new group, top-level or under ``parent_id``; its id."""
        realm = segment(realm)
        path = f"/{realm}/groups/{segment(parent_id)}/children" if parent_id else f"/{realm}/groups"
        return self.admin.post(path, {"name": name}).headers["Location"].rsplit("/", 1)[-1]

    def delete_group(self, realm: str, group_id: str) -> None:
        self.admin.delete(f"/{segment(realm)}/groups/{segment(group_id)}")

    def delete_user(self, realm: str, user_id: str) -> None:
        self.admin.delete(f"/{segment(realm)}/users/{segment(user_id)}")

    def sign_out(self, realm: str, user_id: str) -> None:
        """End every session of the user (the admin console's "Sign out")."""
        self.admin.post(f"/{segment(realm)}/users/{segment(user_id)}/logout", None)

    def user_ids(self, realm: str, username: str) -> list[str]:
        users = self.get("users", realm, username=username, exact="true")
        return [u["id"] for u in users]

    def close(self) -> None:
        self.admin.http.close()


def new_password() -> str:
    """A password the demo realms' policy accepts (12+ characters, upper, lower, digit)."""
    return demo_password()
