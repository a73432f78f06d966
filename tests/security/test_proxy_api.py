"""Traefik's API is the hub's only (review item 5). User containers do not reach its port at all
(the users firewall: tests/security/test_users_network.py). The other services that share a
network with Traefik (edge: Keycloak, the fruit API) reach the port, but its entrypoint
admits only the hub's own network (proxy-api) and Traefik's loopback, before any password is
checked (each basic-auth check is a bcrypt hash: a CPU lever on the only front door). The
control: from the hub, the same request reaches the password check (401), so the refusal is
the address check's."""

from __future__ import annotations

import base64

import pytest

from tests.support.servers import request_in_container

HUB = "jupyterhub-keycloak-hub-1"
FRUIT_API = "jupyterhub-keycloak-fruit-api-1"  # on the edge network, with Traefik


def status_from(container: str, url: str, *credentials: str) -> int:
    """The HTTP status of one GET from inside ``container`` (no credentials, or wrong ones),
    with the Host header the hub's API router matches (any caller can send it)."""
    headers = {"Host": "traefik-api"}
    if credentials:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials[0].encode()).decode()
    return request_in_container(container, "GET", url, headers=headers).status_code


@pytest.mark.parametrize("credentials", [(), ("jupyterhub:wrong-password",)], ids=["none", "wrong"])
def test_another_service_is_refused_by_traefiks_api_before_the_password(
    compose_stack, credentials
) -> None:
    assert status_from(FRUIT_API, "http://traefik:8099/api/overview", *credentials) == 403


def test_control_the_hub_reaches_the_password_check(compose_stack) -> None:
    assert status_from(HUB, "http://traefik-api:8099/api/overview") == 401
