"""Smoke test of a deployment made by the Ansible playbooks: HTTP redirects to HTTPS, a user
logs in through Keycloak (on a host of its own) in Chromium, their server starts (on a host of
its own with user subdomains) and JupyterLab opens there, and code in it gets a fruit-api token
from the hub's broker."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.deploy.conftest import Deployment
from tests.support import chromium
from tests.support.servers import call_in_container, container_of
from tokencontract.claims import unverified_claims

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


def test_the_hubs_host_does_not_serve_keycloak(deployment: Deployment) -> None:
    """Keycloak answers on its own host name only: its discovery document is not served in the
    hub's origin (where a user's script could reach it as same-origin), but on Keycloak's."""
    discovery = "/realms/demo/.well-known/openid-configuration"
    on_keycloak = httpx.get(
        f"{deployment.keycloak_url}{discovery}", verify=deployment.verify, timeout=10
    )
    assert on_keycloak.status_code == 200, on_keycloak.text
    assert on_keycloak.json()["issuer"] == f"{deployment.keycloak_url}/realms/demo"
    assert urlsplit(deployment.keycloak_url).hostname != urlsplit(deployment.public_url).hostname

    on_hub = httpx.get(
        f"{deployment.public_url}/auth{discovery}",
        verify=deployment.verify,
        timeout=10,
        follow_redirects=True,
    )
    assert urlsplit(str(on_hub.url)).hostname == urlsplit(deployment.public_url).hostname
    assert '"issuer"' not in on_hub.text and "openid-connect" not in on_hub.text, (
        on_hub.status_code,
        on_hub.text[:300],
    )


def test_login_and_mint_a_token(page: Page, deployment: Deployment) -> None:
    url = deployment.public_url
    # Log in through Keycloak's form, on Keycloak's own host; land on the token page, so no
    # user server is started by the login.
    page.goto(f"{url}/hub/login?next=%2Fhub%2Ftoken")
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    assert page.url.startswith(f"{deployment.keycloak_url}/realms/demo/"), page.url
    page.get_by_label("Username or email").fill(USER)
    page.get_by_label("Password", exact=True).fill(deployment.password(USER))
    page.get_by_role("button", name="Sign In").click()
    expect(page).to_have_url(re.compile(r"/hub/token"), timeout=60_000)
    assert page.url.startswith(f"{url}/hub/token"), page.url

    # The user's server starts (a container of the deployment), and code in it asks the
    # hub's broker for a short-lived fruit-API token, with the server's own hub token: the
    # only caller the broker answers.
    xsrf = next(c["value"] for c in page.context.cookies(f"{url}/hub/") if c["name"] == "_xsrf")
    started = page.request.post(f"{url}/hub/api/users/{USER}/server", headers={"X-XSRFToken": xsrf})
    assert started.status in (201, 202), started.text()
    deadline = time.monotonic() + 120
    while True:
        user = page.request.get(f"{url}/hub/api/user", headers={"X-XSRFToken": xsrf}).json()
        if user["servers"].get("", {}).get("ready"):
            break
        assert time.monotonic() < deadline, "the user's server did not start within 120 s"
        time.sleep(1)

    # JupyterLab opens in the server's own origin (https://reader.localhost:8443 with user
    # subdomains), after the hub's OAuth hand-off to that host.
    server = deployment.server_url(USER)
    chromium.goto(page, f"{server}/lab")  # again if a new container's network aborted it
    expect(page).to_have_url(re.compile(rf"^{re.escape(server)}/lab"), timeout=60_000)
    expect(page.get_by_role("contentinfo")).to_be_visible(timeout=60_000)  # JupyterLab's status bar

    request = json.dumps({"audience": "fruit-api", "scope": "fruits:read"}).encode()
    minted = call_in_container(container_of(USER), "POST", content=request)
    assert minted.status_code == 200, minted.text
    body = minted.json()
    token = unverified_claims(body["access_token"])
    aud = token["aud"] if isinstance(token["aud"], list) else [token["aud"]]
    assert aud == ["fruit-api"]
    assert token["iss"] == f"{deployment.keycloak_url}/realms/demo"
    assert token["azp"] == "jupyterhub-exchange"
    assert "fruits:read" in token["scope"].split()

    # The broker is not served through the public entrypoint, even to that token's holder.
    outside = httpx.post(
        f"{url}/hub/api/token-exchange", content=request, verify=deployment.verify, timeout=10
    )
    assert outside.status_code == 403 and "access_token" not in outside.text

    # The fruit API accepts it through Traefik over HTTPS.
    fruits = httpx.get(
        f"{url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        verify=deployment.verify,
        timeout=10,
    )
    assert fruits.status_code == 200, fruits.text
