"""Keycloak's admin REST API for the chaos suite: many users at once, and plain calls.

In compose the admin API is not routed through Traefik, and kcadm.sh starts a JVM per call
(seconds each), so the requests are sent by Python inside the hub's container (on Keycloak's
network, with httpx): one ``docker exec`` for all users. The admin's credentials travel on
stdin, never in a command line.
"""

from __future__ import annotations

import json
import subprocess

from tests.support.stack import Stack

HUB_CONTAINER = "jupyterhub-keycloak-hub-1"
ADMIN_URL = "http://keycloak:8080/auth"

#: Runs in the hub's container. stdin: one JSON object (see ``apply``). stdout: JSON.
SCRIPT = r"""
import json, sys
import httpx
spec = json.load(sys.stdin)
base = spec["url"]
token = httpx.post(
    f"{base}/realms/master/protocol/openid-connect/token",
    data={"grant_type": "password", "client_id": "admin-cli",
          "username": spec["admin"], "password": spec["password"]},
    timeout=30,
).raise_for_status().json()["access_token"]
http = httpx.Client(base_url=f"{base}/admin/realms/{spec['realm']}",
                    headers={"Authorization": "Bearer " + token}, timeout=30)
groups = {g["name"]: g["id"] for g in http.get("/groups", params={"max": 1000}).json()}
def find(username):
    found = http.get("/users", params={"username": username, "exact": "true"}).json()
    return found[0]["id"] if found else None
out = {}
for user in spec.get("create", []):
    uid = find(user["username"])
    if uid is None:
        http.post("/users", json={"username": user["username"], "enabled": True,
                  "firstName": user["username"], "lastName": "Chaos",
                  "email": user["username"] + "@chaos.invalid", "emailVerified": True,
                  }).raise_for_status()
        uid = find(user["username"])
    http.put(f"/users/{uid}/reset-password", json={
        "type": "password", "value": user["password"], "temporary": False}).raise_for_status()
    for name in user["groups"]:
        http.put(f"/users/{uid}/groups/{groups[name]}").raise_for_status()
    out[user["username"]] = uid
for username in spec.get("delete", []):
    uid = find(username)
    if uid is not None:
        http.delete(f"/users/{uid}").raise_for_status()
print(json.dumps(out))
"""


def users(
    stack: Stack,
    create: list[dict] | None = None,
    delete: list[str] | None = None,
    realm: str = "demo",
) -> dict[str, str]:
    """Create (or reset: password, groups) users ``{"username", "password", "groups"}`` and
    delete usernames; returns ``{username: id}`` of those created."""
    spec = {
        "url": ADMIN_URL,
        "admin": stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        "password": stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        "realm": realm,
        "create": create or [],
        "delete": delete or [],
    }
    result = subprocess.run(
        ["docker", "exec", "-i", HUB_CONTAINER, "python", "-c", SCRIPT],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:  # the error names the call, never the credentials
        raise AssertionError(f"Keycloak admin calls failed: {result.stderr[-800:]}")
    return json.loads(result.stdout)


#: Runs in the hub's container: admin API calls. stdin: JSON (url, admin, password, calls:
#: [[method, path under /admin/realms]]). stdout: JSON list of [status, body or null].
CALLS = r"""
import json, sys
import httpx
spec = json.load(sys.stdin)
base = spec["url"]
token = httpx.post(
    f"{base}/realms/master/protocol/openid-connect/token",
    data={"grant_type": "password", "client_id": "admin-cli",
          "username": spec["admin"], "password": spec["password"]},
    timeout=30,
).raise_for_status().json()["access_token"]
http = httpx.Client(base_url=f"{base}/admin/realms",
                    headers={"Authorization": "Bearer " + token}, timeout=30)
out = []
for method, path in spec["calls"]:
    response = http.request(method, path)
    try:
        body = response.json()
    except ValueError:
        body = None
    out.append([response.status_code, body])
print(json.dumps(out))
"""


def calls(stack: Stack, *requests: tuple[str, str]) -> list[tuple[int, object]]:
    """``(method, path)`` admin calls (paths under /admin/realms); ``(status, JSON body)``."""
    spec = {
        "url": ADMIN_URL,
        "admin": stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        "password": stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
        "calls": [list(r) for r in requests],
    }
    result = subprocess.run(
        ["docker", "exec", "-i", HUB_CONTAINER, "python", "-c", CALLS],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"Keycloak admin calls failed: {result.stderr[-800:]}")
    return [(status, body) for status, body in json.loads(result.stdout)]
