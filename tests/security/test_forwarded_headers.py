"""Keycloak trusts X-Forwarded-* headers (KC_PROXY_HEADERS=xforwarded) because only Traefik
reaches it from outside: Traefik replaces whatever a client sends in those headers, and the
issuer and every URL a browser follows are fixed by KC_HOSTNAME. A client that forges them (or
the Host header) cannot make Keycloak name another issuer or send browsers elsewhere (review
item 9). Keycloak's back-channel URLs (token, keys) follow the request's host
(KC_HOSTNAME_BACKCHANNEL_DYNAMIC, for the containers that call it internally): a forged Host
is only reflected to the one who sent it (docs/security.md)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

FORGED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-For": "203.0.113.7",
    "Forwarded": "for=203.0.113.7;host=evil.example;proto=https",
}


def test_forged_forwarded_headers_do_not_change_keycloaks_urls(compose_stack) -> None:
    response = httpx.get(f"{compose_stack.issuer}/.well-known/openid-configuration", headers=FORGED)
    assert response.status_code == 200, response.text
    discovery = response.json()
    assert discovery["issuer"] == compose_stack.issuer
    for browser_url in ("authorization_endpoint", "end_session_endpoint"):
        assert discovery[browser_url].startswith(compose_stack.issuer), discovery[browser_url]
    assert "evil.example" not in response.text  # Traefik dropped them: nothing reflects them


def test_a_forged_host_reaches_no_keycloak(compose_stack) -> None:
    """Keycloak is routed on its own host name only: a request naming another host (with
    forged forwarded headers too) is not answered by Keycloak, so it cannot reflect that host
    into a discovery document or a login page."""
    response = httpx.get(
        f"{compose_stack.issuer}/.well-known/openid-configuration",
        headers={**FORGED, "Host": "evil.example"},
    )
    assert response.status_code in (302, 404), response.status_code
    assert "evil.example" not in response.text and "issuer" not in response.text


def test_forged_host_does_not_redirect_a_login_elsewhere(compose_stack) -> None:
    """The hub's login redirect goes to Keycloak's public host, and back to the hub's."""
    response = httpx.get(
        f"{compose_stack.public_url}/hub/oauth_login", headers={**FORGED, "Host": "evil.example"}
    )
    location = response.headers.get("location", "")
    assert response.status_code in (302, 303), response.status_code
    assert location.startswith(f"{compose_stack.issuer}/protocol/openid-connect/auth?"), location
    redirect_uri = parse_qs(urlsplit(location).query)["redirect_uri"]
    assert redirect_uri == [f"{compose_stack.public_url}/hub/oauth_callback"], redirect_uri
    assert "evil.example" not in location
