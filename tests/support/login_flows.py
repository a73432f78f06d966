"""Log in through Keycloak's real login form without a browser (httpx), for integration tests
and benchmarks. Keycloak sets its cookies `Secure`; browsers accept those on http://localhost
(and its subdomains), httpx does not, so cookies are carried by hand here: per host, as a
browser keeps them (the hub, Keycloak and each user's server are separate hosts), a cookie
with a Domain attribute also for that domain's subdomains."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx

from tests.support.stack import Stack
from tests.support.totp import one_time_code

FORM_ACTION = re.compile(r'<form[^>]+id="kc-form-login"[^>]+action="([^"]+)"')
OTP_FORM_ACTION = re.compile(r'<form[^>]+id="kc-otp-login-form"[^>]+action="([^"]+)"')


class CookieCarrier:
    """A minimal browser: follows redirects, remembers every cookie regardless of Secure, and
    sends a host the cookies that host (or a domain above it) set."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=30.0)
        #: (scope, name) -> value; scope is "host" or ".domain" (a Domain attribute)
        self.jar: dict[tuple[str, str], str] = {}
        self.home = ""  # the host of the first request (the hub, in hub_session)

    def cookies_for(self, host: str) -> dict[str, str]:
        """What a browser would send ``host``."""
        return {
            name: value
            for (scope, name), value in self.jar.items()
            if scope == host or (scope.startswith(".") and f".{host}".endswith(scope))
        }

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies of the host this carrier first went to (the hub: its _xsrf)."""
        return self.cookies_for(self.home)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        host = (urlparse(url).hostname or "").lower()
        self.home = self.home or host
        headers = dict(kwargs.pop("headers", {}) or {})
        if "Cookie" not in headers and (sent := self.cookies_for(host)):
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in sent.items())
        response = self.http.request(method, url, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            domain = re.search(r";\s*domain=\.?([^;\s]+)", header, re.IGNORECASE)
            key = (f".{domain.group(1).lower()}" if domain else host, name.strip())
            if "Max-Age=0" in header or "expires=Thu, 01 Jan 1970" in header:
                self.jar.pop(key, None)
            else:
                self.jar[key] = value
        return response

    def follow(self, response: httpx.Response, stop: str | None = None) -> httpx.Response:
        """Follow redirects, stopping before a URL that starts with ``stop`` (a URL), or whose
        path does (``stop`` a path: on any host, e.g. a user's server on its own host)."""
        for _ in range(20):
            location = response.headers.get("location")
            if not response.is_redirect or not location:
                return response
            target = urljoin(str(response.url), location)
            checked = urlparse(target).path if stop and stop.startswith("/") else target
            if stop and checked.startswith(stop):
                return response
            response = self.request("GET", target)
        raise AssertionError("too many redirects")

    def submit_login(
        self, page: httpx.Response, username: str, password: str, totp_secret: str | None = None
    ) -> httpx.Response:
        """Keycloak's login form, then its one-time code form when it asks for one (hub
        admins: ``totp_secret``)."""
        match = FORM_ACTION.search(page.text)
        if not match:
            raise AssertionError(f"no Keycloak login form at {page.url} (HTTP {page.status_code})")
        action = html.unescape(match.group(1))
        response = self.request("POST", action, data={"username": username, "password": password})
        otp_form = OTP_FORM_ACTION.search(response.text) if response.status_code == 200 else None
        if otp_form and totp_secret:
            action = html.unescape(otp_form.group(1))
            response = self.request("POST", action, data={"otp": one_time_code(totp_secret)})
        return response


def login_page(
    browser: CookieCarrier, stack: Stack, challenge: str, scope: str = "openid"
) -> httpx.Response:
    """Keycloak's login form for the hub's client (authorization code flow, PKCE S256)."""
    return browser.request(
        "GET",
        f"{stack.issuer}/protocol/openid-connect/auth",
        params={
            "client_id": "jupyterhub",
            "response_type": "code",
            "scope": scope,
            "redirect_uri": f"{stack.public_url}/hub/oauth_callback",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )


def keycloak_tokens(stack: Stack, username: str, scope: str = "openid") -> dict[str, Any]:
    """The token response the hub would get at login: authorization code + PKCE S256."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    redirect_uri = f"{stack.public_url}/hub/oauth_callback"
    browser = CookieCarrier()
    page = login_page(browser, stack, challenge, scope)
    response = browser.submit_login(
        page, username, stack.password(username), stack.totp_secret(username)
    )
    location = response.headers.get("location", "")
    code = parse_qs(urlparse(location).query).get("code")
    if not code:
        raise AssertionError(
            f"login of {username} did not return a code (HTTP {response.status_code})"
        )
    token = httpx.post(
        stack.token_url,
        data={
            "grant_type": "authorization_code",
            "code": code[0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=("jupyterhub", stack.secrets["JUPYTERHUB_CLIENT_SECRET"]),
    )
    token.raise_for_status()
    return token.json()


def hub_session(stack: Stack, username: str, hub: str = "") -> CookieCarrier:
    """Log in to the hub (served under the path ``hub``, e.g. "/research") through Keycloak,
    as a browser would; returns the cookie carrier. Stops before the user's server (it may be
    running and would start its own OAuth dance)."""
    browser = CookieCarrier()
    base = f"{stack.public_url}{hub}"
    page = browser.follow(browser.request("GET", f"{base}/hub/oauth_login"))
    submitted = browser.submit_login(
        page, username, stack.password(username), stack.totp_secret(username)
    )
    response = browser.follow(submitted, stop=f"{hub}/user/")  # a server, on any host
    logged_in = any(name.startswith("jupyterhub-") for name in browser.cookies)
    if not logged_in or "_xsrf" not in browser.cookies:
        raise AssertionError(
            f"hub login of {username} ended at {response.url} ({response.status_code})"
        )
    return browser


def hub_login(stack: Stack, username: str) -> CookieCarrier:
    """Log in to the hub through Keycloak's login form (authorization code flow, as
    login_flows.hub_session), but stop before /hub/spawn: no server is started."""
    browser = CookieCarrier()
    page = browser.follow(browser.request("GET", f"{stack.public_url}/hub/oauth_login"))
    submitted = browser.submit_login(
        page, username, stack.password(username), stack.totp_secret(username)
    )
    browser.follow(submitted, stop=f"{stack.public_url}/hub/spawn")
    me = browser.request(
        "GET",
        f"{stack.public_url}/hub/api/user",
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", "")},
    )
    assert me.status_code == 200 and me.json()["name"] == username, f"{username}: {me.text}"
    return browser


def whoami(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.public_url}/hub/api/user", headers={"Authorization": f"token {token}"}
    )


def create_api_token(
    stack: Stack,
    browser: CookieCarrier,
    username: str,
    scopes: list[str],
    hub: str = "",
    **fields: Any,
) -> str:
    """A new JupyterHub API token of the logged-in ``username`` (``fields``: note, expires_in)."""
    response = browser.request(
        "POST",
        f"{stack.public_url}{hub}/hub/api/users/{username}/tokens",
        json={"scopes": scopes, "note": "test", "expires_in": 3600, **fields},
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", "")},
    )
    if response.status_code != 201:
        raise AssertionError(f"token request failed: {response.status_code} {response.text}")
    return response.json()["token"]


def hub_api_token(stack: Stack, username: str, scopes: list[str], hub: str = "") -> str:
    """A JupyterHub API token of ``username`` with ``scopes`` (as a notebook server has)."""
    return create_api_token(stack, hub_session(stack, username, hub), username, scopes, hub)
