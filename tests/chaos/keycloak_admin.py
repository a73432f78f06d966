"""Keycloak's admin REST API for the chaos suite: many users at once, and plain calls.

In compose the admin API is not routed through Traefik, and kcadm.sh starts a JVM per call
(seconds each), so the requests are sent by Python inside the hub's container (on Keycloak's
network) with idpctl's own admin client (``idpctl.admin.KeycloakAdmin``, in the hub's image):
one ``docker exec`` for all users. The admin's credentials travel on
stdin, never in a command line.
"""

from __future__ import annotations

import json
import subprocess

from tests.support.stack import Stack

HUB_CONTAINER = "jupyterhub-keycloak-hub-1"
ADMIN_URL = "http://keycloak:8080/auth"

#: Run in the hub's container before each script: the admin client, logged in. stdin: one JSON
#: object (url, admin, password, and the script's own fields); stdout: the script's JSON.
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
                   "firstName": user["username"], "lastName": "Chaos",
                   "email": user["username"] + "@chaos.invalid", "emailVerified": True})
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

#: Plain calls, whatever their status: [[method, path under /admin/realms]] -> [[status, body]].
CALLS = r"""
out = []
for method, path in spec["calls"]:
    response = admin.http.request(method, path)
    try:
        body = response.json()
    except ValueError:
        body = None
    out.append([response.status_code, body])
print(json.dumps(out))
"""


def _in_hub(stack: Stack, script: str, **fields: object) -> object:
    """Run ``LOGIN`` + ``script`` in the hub's container; its JSON answer."""
    spec = {
        "url": ADMIN_URL,
        "admin": stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        "password": stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        **fields,
    }
    result = subprocess.run(
        ["docker", "exec", "-i", HUB_CONTAINER, "python", "-c", LOGIN + script],
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
    return _in_hub(stack, USERS, realm=realm, create=create or [], delete=delete or [])


def calls(stack: Stack, *requests: tuple[str, str]) -> list[tuple[int, object]]:
    """``(method, path)`` admin calls (paths under /admin/realms); ``(status, JSON body)``."""
    answers = _in_hub(stack, CALLS, calls=[list(r) for r in requests])
    return [(status, body) for status, body in answers]
