"""Keycloak's admin REST API for the chaos suite and the load benchmark: many users at once,
and plain calls, through idpctl's own admin client (``idpctl.admin.KeycloakAdmin``).

kcadm.sh starts a JVM per call (seconds each), so the requests are sent by one Python process
for all users: in compose, inside the hub's container (the admin API is on Keycloak's network
only, not routed through Traefik); in native, on this host, at the stack's admin URL
(loopback). The admin's credentials travel on stdin, never in a command line.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.stack import Stack

HUB_CONTAINER = "jupyterhub-keycloak-hub-1"
#: Keycloak's admin API as the hub's container reaches it (compose).
COMPOSE_ADMIN_URL = "http://keycloak:8080/auth"

#: Run before each script: the admin client, logged in. stdin: one JSON object (url, admin,
#: password, and the script's own fields); stdout: the script's JSON.
LOGIN = r"""
import json, sys
from idpctl.admin import KeycloakAdmin
spec = json.load(sys.stdin)
admin = KeycloakAdmin(spec["url"], spec["admin"], spec["password"])
"""

#: Create (or reset) and delete users of one realm.
USERS = r"""
realm = spec["realm"]
groups = {g["name"]: g["id"] for g in admin.get(f"/{realm}/groups", max=1000)}
def find(username):
    found = admin.get(f"/{realm}/users", username=username, exact="true")
    return found[0]["id"] if found else None
out = {}
for user in spec["create"]:
    uid = find(user["username"])
    if uid is None:
        admin.post(f"/{realm}/users", {"username": user["username"], "enabled": True,
                   "firstName": user["username"], "lastName": "Test",
                   "email": user["username"] + "@test.invalid", "emailVerified": True})
        uid = find(user["username"])
    admin.put(f"/{realm}/users/{uid}/reset-password",
              {"type": "password", "value": user["password"], "temporary": False})
    for name in user["groups"]:
        admin.put(f"/{realm}/users/{uid}/groups/{groups[name]}")
    out[user["username"]] = uid
for username in spec["delete"]:
    uid = find(username)
    if uid is not None:
        admin.delete(f"/{realm}/users/{uid}")
print(json.dumps(out))
"""

#: Instead of LOGIN: a service account's admin client (client credentials of spec["client"]
#: in spec["realm"]), with the same ``admin.http`` as the bootstrap admin's.
CLIENT_LOGIN = r"""
import json, sys
import httpx
spec = json.load(sys.stdin)
token = httpx.post(
    f"{spec['url']}/realms/{spec['realm']}/protocol/openid-connect/token",
    data={"grant_type": "client_credentials"},
    auth=(spec["client"], spec["secret"]),
).raise_for_status().json()["access_token"]
class admin:
    http = httpx.Client(base_url=f"{spec['url']}/admin/realms",
                        headers={"Authorization": f"Bearer {token}"})
"""

#: Plain calls, whatever their status: [[method, path under /admin/realms, body or None]] ->
#: [[status, body]].
CALLS = r"""
out = []
for method, path, *body in spec["calls"]:
    response = admin.http.request(method, path, json=body[0] if body else None)
    try:
        body = response.json()
    except ValueError:
        body = None
    out.append([response.status_code, body])
print(json.dumps(out))
"""


def _run(stack: Stack, script: str, login: str = LOGIN, **fields: object) -> object:
    """Run ``login`` + ``script`` where the admin API is reachable; its JSON answer."""
    compose = stack.runtime == "compose"
    spec = {
        "url": COMPOSE_ADMIN_URL if compose else stack.keycloak_admin_url,
        "admin": stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        "password": stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        **fields,
    }
    python = ["docker", "exec", "-i", HUB_CONTAINER, "python"] if compose else [sys.executable]
    result = subprocess.run(
        [*python, "-c", login + script],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:  # the error names the call, never the credentials
        raise AssertionError(f"Keycloak admin calls failed: {result.stderr[-800:]}")
    return json.loads(result.stdout)


def users(
    stack: Stack,
    create: list[dict] | None = None,
    delete: list[str] | None = None,
    realm: str = "demo",
) -> dict[str, str]:
    """Create (or reset: password, groups) users ``{"username", "password", "groups"}`` and
    delete usernames; returns ``{username: id}`` of those created."""
    return _run(stack, USERS, realm=realm, create=create or [], delete=delete or [])


def calls(stack: Stack, *requests: tuple) -> list[tuple[int, object]]:
    """``(method, path[, JSON body])`` admin calls (paths under /admin/realms), as the
    bootstrap admin; ``(status, JSON body)`` of each."""
    answers = _run(stack, CALLS, calls=[list(r) for r in requests])
    return [(status, body) for status, body in answers]


def calls_as_client(
    stack: Stack, client: str, secret: str, *requests: tuple, realm: str = "demo"
) -> list[tuple[int, object]]:
    """The same calls as the service account of ``client`` (client credentials)."""
    answers = _run(
        stack,
        CALLS,
        login=CLIENT_LOGIN,
        calls=[list(r) for r in requests],
        client=client,
        secret=secret,
        realm=realm,
    )
    return [(status, body) for status, body in answers]
