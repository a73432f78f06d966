"""Keycloak's admin CLI (kcadm.sh) inside the compose runtime's Keycloak container.

In compose the admin API is not routed through Traefik, so tests that must change Keycloak
while the stack runs call kcadm.sh with `docker exec`, logged in as the bootstrap admin on
Keycloak's own port. Its login is kept in a config file of its own, removed by ``close()``.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from stackconf.secrets import demo_password
from tests.support.stack import Stack

KEYCLOAK_CONTAINER = "jupyterhub-keycloak-keycloak-1"
KCADM = "/opt/keycloak/bin/kcadm.sh"
SERVER = "http://localhost:8080/auth"


class KeycloakAdminCLI:
    def __init__(self, stack: Stack, container: str = KEYCLOAK_CONTAINER) -> None:
        self.stack = stack
        self.container = container
        self.config = f"/tmp/kcadm-{uuid.uuid4().hex[:8]}.config"
        self.login()

    def login(self) -> None:
        """(Re)log in: needed again after Keycloak restarts."""
        self.run(
            "config",
            "credentials",
            "--server",
            SERVER,
            "--realm",
            "master",
            "--user",
            self.stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
            "--password",
            self.stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        )

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["docker", "exec", self.container, KCADM, *args, "--config", self.config],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:  # never echo the arguments: one may be the admin password
            raise AssertionError(f"kcadm.sh {args[0]} {args[1]} failed: {result.stderr.strip()}")
        return result.stdout

    def get(self, path: str, realm: str, *query: str) -> Any:
        extra = [arg for q in query for arg in ("-q", q)]
        return json.loads(self.run("get", path, "-r", realm, *extra))

    def create_user(self, realm: str, username: str, password: str, groups: list[str]) -> str:
        """A new enabled user with a complete profile (no action needed at login); its id."""
        user_id = self.run(
            "create",
            "users",
            "-r",
            realm,
            "-i",
            "-s",
            f"username={username}",
            "-s",
            "enabled=true",
            "-s",
            "emailVerified=true",
            "-s",
            "firstName=Run",
            "-s",
            "lastName=Time",
            "-s",
            f"email={username}@example.org",
        ).strip()
        self.run("set-password", "-r", realm, "--userid", user_id, "--new-password", password)
        for group in groups:
            found = [g for g in self.get("groups", realm, f"search={group}") if g["name"] == group]
            assert found, f"no group {group} in realm {realm}"
            self.join(realm, user_id, found[0]["id"])
        return user_id

    def join(self, realm: str, user_id: str, group_id: str) -> None:
        """Make the user a member of the group (any level)."""
        self.run(
            "update",
            f"users/{user_id}/groups/{group_id}",
            "-r",
            realm,
            "-s",
            f"realm={realm}",
            "-s",
            f"userId={user_id}",
            "-s",
            f"groupId={group_id}",
            "-n",
        )

    def create_group(self, realm: str, name: str, parent_id: str | None = None) -> str:
        """A new group, top-level or under ``parent_id``; its id."""
        path = f"groups/{parent_id}/children" if parent_id else "groups"
        return self.run("create", path, "-r", realm, "-i", "-s", f"name={name}").strip()

    def delete_group(self, realm: str, group_id: str) -> None:
        self.run("delete", f"groups/{group_id}", "-r", realm)

    def delete_user(self, realm: str, user_id: str) -> None:
        self.run("delete", f"users/{user_id}", "-r", realm)

    def user_ids(self, realm: str, username: str) -> list[str]:
        users = self.get("users", realm, f"username={username}", "exact=true")
        return [u["id"] for u in users]

    def close(self) -> None:
        subprocess.run(
            ["docker", "exec", self.container, "rm", "-f", self.config],
            capture_output=True,
            check=False,
        )


def new_password() -> str:
    """A password the demo realms' policy accepts (12+ characters, upper, lower, digit)."""
    return demo_password()
