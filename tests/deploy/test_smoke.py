"""Smoke test of a deployment made by the Ansible playbooks: HTTP redirects to HTTPS, a user
logs in through Keycloak in Chromium, and the hub's broker mints a fruit-api token for them."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from hubtokens.jwt_claims import unverified_claims
from tests.deploy.conftest import Deployment

USER = "reader"


def test_http_redirects_to_https(deployment: Deployment) -> None:
    if not deployment.http_url:
        pytest.fail(
            "set DEPLOY_HTTP_URL to the deployment's plain-HTTP URL (it must redirect)",
            pytrace=False,
        )
    response = httpx.get(f"{deployment.http_url}/hub/", follow_redirects=False, timeout=10)
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"].startswith(f"{deployment.public_url}/hub/")


def test_hub_health_over_https(deployment: Deployment) -> None:
    response = httpx.get(
        f"{deployment.public_url}/hub/health", verify=deployment.verify, timeout=10
    )
    assert response.status_code == 200
    # Browsers must keep to HTTPS for this host (HSTS), and the usual headers are there too.
    assert response.headers.get("strict-transport-security", "").startswith("max-age=31536000")
    assert response.headers.get("x-frame-options") == "SAMEORIGIN"
    assert response.headers.get("x-content-type-options") == "nosniff"


def test_login_and_mint_a_token(page: Page, deployment: Deployment) -> None:
    url = deployment.public_url
    # Log in through Keycloak's form; land on the token page, so no user server is started.
    page.goto(f"{url}/hub/login?next=%2Fhub%2Ftoken")
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    assert page.url.startswith(f"{url}/auth/realms/demo/"), page.url
    page.get_by_label("Username or email").fill(USER)
    page.get_by_label("Password", exact=True).fill(deployment.password(USER))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/hub/token"), timeout=60_000)

    # A JupyterHub API token of the user (as a notebook server holds), made with the session.
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    created = page.request.post(
        f"{url}/hub/api/users/{USER}/tokens",
        data={"scopes": ["custom:token-exchange!user"], "note": "deploy smoke", "expires_in": 600},
        headers={"X-XSRFToken": xsrf},
    )
    assert created.status == 201, created.text()
    hub_token = created.json()["token"]

    # The broker mints a short-lived token for the fruit API, as the user.
    minted = httpx.post(
        f"{url}/hub/api/token-exchange",
        json={"audience": "fruit-api", "scope": "fruits:read"},
        headers={"Authorization": f"token {hub_token}"},
        verify=deployment.verify,
        timeout=30,
    )
    assert minted.status_code == 200, minted.text
    body = minted.json()
    token = unverified_claims(body["access_token"])
    aud = token["aud"] if isinstance(token["aud"], list) else [token["aud"]]
    assert aud == ["fruit-api"]
    assert token["iss"] == f"{url}/auth/realms/demo"
    assert token["preferred_username"] == USER
    assert "fruits:read" in token["scope"].split()

    # The fruit API accepts it through Traefik over HTTPS.
    fruits = httpx.get(
        f"{url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=deployment.verify,
        timeout=10,
    )
    assert fruits.status_code == 200, fruits.text
