"""The demo realm's protections are on: password policy, brute-force lockout, events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.keycloak_admin import KeycloakAdmin
from tests.support.login_flows import CookieCarrier
from tests.support.stack import Stack


@pytest.fixture
def throwaway_user(stack: Stack) -> Iterator[tuple[KeycloakAdmin, str, str]]:
    admin = KeycloakAdmin(stack)
    username = f"itest-{uuid.uuid4().hex[:6]}"
    admin.post(
        "/users",
        {
            "username": username,
            "enabled": True,
            "emailVerified": True,
            "firstName": "I",
            "lastName": "Test",
            "email": f"{username}@example.org",
        },
    )
    user_id = admin.get("/users", username=username, exact="true")[0]["id"]
    try:
        yield admin, username, user_id
    finally:
        admin.delete(f"/users/{user_id}")


def _set_password(admin: KeycloakAdmin, user_id: str, password: str) -> httpx.Response:
    return admin.http.put(
        f"/users/{user_id}/reset-password",
        json={"type": "password", "value": password, "temporary": False},
    )


def test_password_policy_refuses_weak_passwords(throwaway_user) -> None:
    admin, username, user_id = throwaway_user
    weak = _set_password(admin, user_id, "short1A")
    assert weak.status_code == 400
    assert "length" in weak.text.lower() or "minimum" in weak.text.lower()
    assert _set_password(admin, user_id, "alllowercase123456").status_code == 400
    assert _set_password(admin, user_id, f"Str0ng-{uuid.uuid4().hex}").status_code == 204


def test_repeated_failed_logins_lock_the_account(stack: Stack, throwaway_user) -> None:
    admin, username, user_id = throwaway_user
    assert _set_password(admin, user_id, f"Str0ng-{uuid.uuid4().hex}").status_code == 204
    for attempt in range(5):
        if attempt:
            time.sleep(1.1)  # slower than the realm's quick-login check: count failures only
        browser = CookieCarrier()
        page = browser.request(
            "GET",
            f"{stack.issuer}/protocol/openid-connect/auth",
            params={
                "client_id": "jupyterhub",
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": f"{stack.public_url}/hub/oauth_callback",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            },
        )
        browser.submit_login(page, username, "Wrong-password-1")
    status = admin.get(f"/attack-detection/brute-force/users/{user_id}")
    assert status["disabled"] is True, status
    assert status["numFailures"] == 5  # the realm's failureFactor
