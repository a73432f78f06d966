"""Traefik's route table (compose/traefik/routes.yml, the same file in both runtimes): Keycloak's
public endpoints (on Keycloak's own host only) and the fruit API are routed, Keycloak's admin
side is not."""

from __future__ import annotations

import re

import httpx

from tests.support.stack import Stack


def test_public_endpoints_are_routed(stack: Stack) -> None:
    discovery = httpx.get(f"{stack.issuer}/.well-known/openid-configuration", timeout=10)
    assert discovery.status_code == 200
    assert discovery.json()["issuer"] == stack.issuer  # Keycloak answered, not some fallback
    assert httpx.get(f"{stack.public_url}/fruit-api/health", timeout=10).status_code == 200


def test_every_public_response_carries_the_security_headers(stack: Stack) -> None:
    """Keycloak, the fruit API and the hub, through the same entrypoint middleware."""
    for url in (
        f"{stack.issuer}/.well-known/openid-configuration",
        f"{stack.public_url}/fruit-api/health",
        f"{stack.public_url}/hub/health",
        f"{stack.public_url}/hub/login",
    ):
        headers = httpx.get(url, timeout=10).headers
        assert headers.get("x-content-type-options") == "nosniff", url
        assert headers.get("referrer-policy") == "same-origin", url
        assert headers.get("x-frame-options") == "SAMEORIGIN", url  # no framing elsewhere


def test_html_pages_allow_framing_by_their_own_origin_only(stack: Stack) -> None:
    """Clickjacking, in the Content-Security-Policy that browsers obey over X-Frame-Options:
    the hub's and Keycloak's pages say ``frame-ancestors 'none'`` or ``'self'`` (each app sets
    its own CSP; Traefik adds X-Frame-Options for the rest)."""
    callback = f"{stack.public_url}/hub/oauth_callback"
    pages = (
        f"{stack.public_url}/hub/login",
        f"{stack.issuer}/protocol/openid-connect/auth?client_id=jupyterhub&response_type=code"
        f"&scope=openid&redirect_uri={callback}&code_challenge_method=S256"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    )
    for url in pages:
        response = httpx.get(url, timeout=10)
        assert "text/html" in response.headers.get("content-type", ""), url
        csp = response.headers.get("content-security-policy", "")
        assert re.search(r"frame-ancestors '(self|none)'", csp), (url, csp)


def keycloak_origin(stack: Stack) -> str:
    return stack.keycloak_url.removesuffix("/auth")


def test_keycloak_is_served_on_its_own_host_only(stack: Stack) -> None:
    """The hub's origin serves no Keycloak page (Keycloak's origin is another one)."""
    assert keycloak_origin(stack) != stack.public_url
    on_its_host = httpx.get(f"{stack.issuer}/.well-known/openid-configuration", timeout=10)
    assert on_its_host.json()["issuer"] == stack.issuer
    on_the_hub = httpx.get(
        f"{stack.public_url}/auth/realms/{stack.realm}/.well-known/openid-configuration",
        timeout=10,
    )
    assert on_the_hub.status_code in (302, 404), on_the_hub.status_code
    assert "issuer" not in on_the_hub.text


def test_keycloak_admin_side_is_not_routed(stack: Stack) -> None:
    """Keycloak answers these itself (the console page, 401 for the admin API, realm master's
    login page and keys); through Traefik they reach no Keycloak, on Keycloak's host or the
    hub's: nothing (404) or the hub's catch-all route, which sends the browser to the hub (a
    /hub/... location)."""
    paths = (
        "/auth/admin/master/console/",
        "/auth/admin/realms/demo/users",
        "/auth/",
        # Realm master (Keycloak's administrators) is not a realm users log in to.
        "/auth/realms/master/.well-known/openid-configuration",
        "/auth/realms/master/protocol/openid-connect/auth?client_id=security-admin-console",
        "/auth/realms/master/account/",
    )
    for origin in (keycloak_origin(stack), stack.public_url):
        for path in paths:
            response = httpx.get(f"{origin}{path}", timeout=10)
            location = response.headers.get("location", "")
            assert response.status_code == 404 or (
                response.status_code == 302 and "/hub/" in location
            ), (origin, path, response.status_code, location)


def test_the_fruit_api_is_served_on_the_hubs_host_only(stack: Stack) -> None:
    """Not on Keycloak's host nor on a user server's subdomain (other origins: its docs page
    there would share their cookies' scope); the hub's host serves it (positive control).
    Before the fix both answered 200 there."""
    assert httpx.get(f"{stack.public_url}/fruit-api/docs", timeout=10).status_code == 200
    hub = httpx.URL(stack.public_url)
    for origin in (keycloak_origin(stack), str(hub.copy_with(host=f"reader.{hub.host}"))):
        for path in ("/fruit-api/docs", "/fruit-api/health"):
            # Not routed there: the hub's catch-all route sends the browser to the hub's host.
            answer = httpx.get(f"{origin}{path}", timeout=10)
            assert answer.status_code in (302, 404), (origin, path, answer.status_code)
            assert not answer.headers.get("location", "").startswith(origin), answer.headers
