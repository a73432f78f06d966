"""Traefik's API is the hub's only (review item 5): user containers share the users network
with Traefik, but its API entrypoint admits only the hub's own network (proxy-api) and
Traefik's loopback, before any password is checked (each basic-auth check is a bcrypt hash: a
CPU lever on the only front door). The control: from the hub, the same request reaches the
password check (401), so the refusal is the address check's."""

from __future__ import annotations

import pytest

from tests.compose.conftest import docker

HUB = "jupyterhub-keycloak-hub-1"
#: Prints the HTTP status of one GET (no credentials, or wrong ones), with the Host header
#: the hub's API router matches (any caller can send it).
STATUS_OF = """
import base64, sys, urllib.error, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Host": "traefik-api"})
if len(sys.argv) > 2:
    request.add_header("Authorization", "Basic " + base64.b64encode(sys.argv[2].encode()).decode())
try:
    print(urllib.request.urlopen(request, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def status_from(container: str, url: str, *credentials: str) -> int:
    result = docker("exec", container, "python", "-c", STATUS_OF, url, *credentials)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip())


@pytest.mark.parametrize("credentials", [(), ("jupyterhub:wrong-password",)], ids=["none", "wrong"])
def test_a_user_container_is_refused_by_traefiks_api_before_the_password(
    reader_container, credentials
) -> None:
    assert status_from(reader_container, "http://traefik:8099/api/overview", *credentials) == 403


def test_control_the_hub_reaches_the_password_check(compose_stack) -> None:
    assert status_from(HUB, "http://traefik-api:8099/api/overview") == 401
