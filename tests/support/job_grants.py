"""Job grants at Keycloak without a browser (httpx through the real login and consent forms):
what the hub will do for a user who creates a grant (docs/jobs.md), for tests that check what
Keycloak gives and refuses the job-grants client."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx

from apiregistry import JOBS_CLIENT
from tests.support.login_flows import CookieCarrier
from tests.support.stack import Stack

CONSENT_FORM = re.compile(r'<form[^>]+action="([^"]+)"[^>]*>', re.IGNORECASE)
#: What Keycloak's consent screen lists (one <li><span>text</span> per scope).
CONSENT_ITEM = re.compile(r"<li[^>]*>\s*<span[^>]*>([^<]+)</span>")


class Refused(AssertionError):
    """Keycloak sent the browser back with an error instead of a code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


class GrantFlow:
    """One user's browser at Keycloak, opening job grants (prompt=login consent: a fresh
    sign-in and the consent screen, every time) for the job-grants client."""

    def __init__(self, stack: Stack, user: str) -> None:
        self.stack, self.user = stack, user
        self.browser = CookieCarrier()
        self.redirect = f"{stack.public_url}/hub/grants/callback"
        self.secret = stack.secrets["JUPYTERHUB_JOBS_CLIENT_SECRET"]
        #: What the last consent screen listed.
        self.consented: list[str] = []

    def grant(self, scope: str) -> dict[str, Any]:
        """Log in, accept the consent screen, trade the code: Keycloak's token response."""
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        page = self.browser.request(
            "GET",
            f"{self.stack.issuer}/protocol/openid-connect/auth",
            params={
                "client_id": JOBS_CLIENT,
                "response_type": "code",
                "scope": f"openid offline_access {scope}",
                "redirect_uri": self.redirect,
                "state": secrets.token_urlsafe(8),
                "prompt": "login consent",
                "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
        )
        back = parse_qs(urlparse(page.headers.get("location", "")).query)
        if "error" in back:
            raise Refused(back["error"][0], back.get("error_description", [""])[0])
        page = self.browser.submit_login(page, self.user, self.stack.password(self.user))
        page = self.browser.follow(page, stop=self.redirect)
        if page.status_code == 200 and (form := CONSENT_FORM.search(page.text)):
            self.consented = [item.strip() for item in CONSENT_ITEM.findall(page.text)]
            action = urljoin(str(page.url), html.unescape(form.group(1)))
            page = self.browser.request("POST", action, data={"accept": "Yes"})
        code = parse_qs(urlparse(page.headers.get("location", "")).query).get("code")
        if not code:
            raise AssertionError(f"no code for {self.user}'s grant (HTTP {page.status_code})")
        response = httpx.post(
            self.stack.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code[0],
                "redirect_uri": self.redirect,
                "code_verifier": verifier,
            },
            auth=(JOBS_CLIENT, self.secret),
        )
        response.raise_for_status()
        return response.json()

    def refresh(self, offline_token: str, scope: str) -> httpx.Response:
        """A refresh of the grant's offline token, narrowed to ``scope``."""
        return httpx.post(
            self.stack.token_url,
            data={"grant_type": "refresh_token", "refresh_token": offline_token, "scope": scope},
            auth=(JOBS_CLIENT, self.secret),
        )

    def revoke(self, offline_token: str) -> httpx.Response:
        """RFC 7009: ends the grant's offline session."""
        return httpx.post(
            f"{self.stack.issuer}/protocol/openid-connect/revoke",
            data={"token": offline_token, "token_type_hint": "refresh_token"},
            auth=(JOBS_CLIENT, self.secret),
        )

    def log_out(self, id_token: str) -> httpx.Response:
        """End the browser's Keycloak session (RP-initiated logout)."""
        return self.browser.request(
            "GET",
            f"{self.stack.issuer}/protocol/openid-connect/logout",
            params={"id_token_hint": id_token, "client_id": JOBS_CLIENT},
        )


def create_on_the_hub(
    browser: CookieCarrier,
    stack: Stack,
    name: str,
    scopes: list[str],
    days: int | str,
    sign_in_as: str,
    answer: str = "accept",
    browser_user: str | None = None,
) -> httpx.Response:
    """The Job grants page's form, as a browser logged in to the hub (as ``browser_user``,
    default ``sign_in_as``) sends it: the hub sends it to Keycloak, which asks for a sign-in
    (as ``sign_in_as``; for another account, the browser first loses its Keycloak cookies:
    Keycloak refuses a second account in one session) and the consent screen (``answer``:
    accept or cancel); the hub's answer at the end (the redirect to its page). A refusal by
    the hub itself comes back at once."""
    browser_user = browser_user or sign_in_as
    page = f"{stack.public_url}/hub/grants"
    sent = browser.request(
        "POST",
        page,
        data={
            "_xsrf": browser.cookies["_xsrf"],
            "action": "create",
            "name": name,
            "scope": scopes,
            "days": str(days),
        },
    )
    if not sent.is_redirect or "/protocol/openid-connect/auth" not in sent.headers["location"]:
        return sent
    if sign_in_as != browser_user:  # Keycloak refuses a second account in one session
        keycloak = urlparse(stack.keycloak_url).hostname or ""
        browser.jar = {key: v for key, v in browser.jar.items() if key[0].lstrip(".") != keycloak}
    login = browser.request("GET", sent.headers["location"])
    back = browser.submit_login(login, sign_in_as, stack.password(sign_in_as))
    back = browser.follow(back, stop=f"{stack.public_url}/hub/grants/callback")
    if back.status_code == 200 and (form := CONSENT_FORM.search(back.text)):
        action = urljoin(str(back.url), html.unescape(form.group(1)))
        label = "Yes" if answer == "accept" else "No"
        back = browser.request("POST", action, data={answer: label})
    callback = back.headers.get("location", "")
    if not callback.startswith(f"{stack.public_url}/hub/grants/callback"):
        raise AssertionError(f"Keycloak did not send the browser back (HTTP {back.status_code})")
    return browser.request("GET", callback)


def hub_grants_page(browser: CookieCarrier, stack: Stack, query: str = "") -> httpx.Response:
    return browser.request("GET", f"{stack.public_url}/hub/grants{query}")
