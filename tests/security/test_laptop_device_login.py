"""Laptop mode's device login phished (issue 26, finding 11): an attacker starts a device
login for the `hubtokens-laptop` client and sends a victim the link. The defence is what the
victim sees before anything is issued: Keycloak's consent screen names the client and every
scope the login would hold, including offline access, in idp/apis.yml's words, and a victim
who says no gives the attacker nothing. (PKCE does not help here: the attacker made the
verifier. The offline session also ends after 3 idle days: idp/templates/clients/.)

Positive control: the same login accepted gives the attacker's poll an offline token, so
the refusal below is the victim's "no" at work, not a broken flow."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any
from urllib.parse import urljoin

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.job_grants import CONSENT_FORM, CONSENT_ITEM
from tests.support.login_flows import CookieCarrier
from tests.support.stack import Stack
from tokencontract.claims import unverified_claims

CLIENT = "hubtokens-laptop"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
VICTIM = "curator"  # holds every fruit scope


class PhishedLogin:
    """The attacker's side (a device login and its poll) and the victim's browser."""

    def __init__(self, stack: Stack, scope: str) -> None:
        self.stack = stack
        self.verifier = secrets.token_urlsafe(48)
        started = httpx.post(
            f"{stack.issuer}/protocol/openid-connect/auth/device",
            data={
                "client_id": CLIENT,
                "scope": f"openid offline_access {scope}",
                "code_challenge": create_s256_code_challenge(self.verifier),
                "code_challenge_method": "S256",
            },
        )
        assert started.status_code == 200, started.text
        self.device: dict[str, Any] = started.json()
        self.browser = CookieCarrier()

    def consent_page(self) -> httpx.Response:
        """The victim follows the link and signs in: what Keycloak shows next."""
        page = self.browser.request("GET", self.device["verification_uri_complete"])
        page = self.browser.follow(page)
        page = self.browser.submit_login(page, VICTIM, self.stack.password(VICTIM))
        return self.browser.follow(page)

    def answer(self, page: httpx.Response, button: str) -> httpx.Response:
        form = CONSENT_FORM.search(page.text)
        assert form, f"no consent form at {page.url}"
        action = urljoin(str(page.url), html.unescape(form.group(1)))
        label = "Yes" if button == "accept" else "No"
        return self.browser.follow(self.browser.request("POST", action, data={button: label}))

    def poll(self) -> httpx.Response:
        return httpx.post(
            self.stack.token_url,
            data={
                "grant_type": DEVICE_GRANT,
                "client_id": CLIENT,
                "device_code": self.device["device_code"],
                "code_verifier": self.verifier,
            },
        )


def test_the_victim_sees_the_client_every_scope_and_offline_access(stack: Stack) -> None:
    page = PhishedLogin(stack, "fruits:read fruits:write fruits:exotic").consent_page()
    assert page.status_code == 200
    listed = [item.strip() for item in CONSENT_ITEM.findall(page.text)]
    assert "Offline Access" in listed, listed
    for words in ("Read the usual fruit list", "Add and delete fruits", "The exotic fruit list"):
        assert any(words in item for item in listed), (words, listed)
    assert re.search(r"hubtokens on a laptop", html.unescape(page.text)), "client not named"


def test_a_victim_who_says_no_gives_the_attacker_nothing(stack: Stack) -> None:
    login = PhishedLogin(stack, "fruits:read")
    login.answer(login.consent_page(), "cancel")
    refused = login.poll()
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "access_denied", refused.text
    # Positive control: the same login accepted is what the attacker would have got.
    accepted = PhishedLogin(stack, "fruits:read")
    accepted.answer(accepted.consent_page(), "accept")
    tokens = accepted.poll()
    assert tokens.status_code == 200, tokens.text
    assert unverified_claims(tokens.json()["refresh_token"])["typ"] == "Offline"
    assert unverified_claims(tokens.json()["access_token"]).get("sub"), "whose token is it?"
