"""Keycloak trusts X-Forwarded-* headers (KC_PROXY_HEADERS=xforwarded) because only Traefik
reaches it from outside: Traefik replaces whatever a client sends in those headers, and the
issuer and every URL a browser follows are fixed by KC_HOSTNAME. A client that forges them (or
the Host header) cannot make Keycloak name another issuer or send browsers elsewhere (review
item 9). Keycloak's back-channel URLs (token, keys) follow the request's host
(KC_HOSTNAME_BACKCHANNEL_DYNAMIC, for the containers that call it internally): a forged Host
is only reflected to the one who sent it (docs/security.md)."""

from __future__ import annotations

import httpx
import pytest

FORGED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-For": "203.0.113.7",
    "Forwarded": "for=203.0.113.7;host=evil.example;proto=https",
}


@pytest.mark.parametrize("host", [None, "evil.example"])
def test_forged_forwarded_headers_do_not_change_keycloaks_urls(compose_stack, host) -> None:
    headers = dict(FORGED) | ({"Host": host} if host else {})
    url = f"{compose_stack.public_url}/auth/realms/{compose_stack.realm}"
    response = httpx.get(f"{url}/.well-known/openid-configuration", headers=headers)
    assert response.status_code == 200, response.text
    discovery = response.json()
    assert discovery["issuer"] == compose_stack.issuer
    for browser_url in ("authorization_endpoint", "end_session_endpoint"):
        assert discovery[browser_url].startswith(compose_stack.issuer), discovery[browser_url]
    if host is None:  # forged X-Forwarded-* alone: Traefik dropped them, nothing reflects them
        assert "evil.example" not in response.text


def test_forged_host_does_not_redirect_a_login_elsewhere(compose_stack) -> None:
    """The hub's login redirect and Keycloak's login form keep the public origin."""
    response = httpx.get(
        f"{compose_stack.public_url}/hub/oauth_login", headers={**FORGED, "Host": "evil.example"}
    )
    location = response.headers.get("location", "")
    assert response.status_code in (302, 303), response.status_code
    assert location.startswith(compose_stack.public_url), location
    assert "evil.example" not in location
