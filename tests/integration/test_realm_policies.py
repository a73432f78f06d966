"""The demo realm's protections are on: password policy, brute-force lockout, events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from idpctl.admin import KeycloakAdmin
from tests.integration.idp_helpers import admin as keycloak_admin
from tests.support.login_flows import CookieCarrier, login_page
from tests.support.stack import Stack


@pytest.fixture
def throwaway_user(stack: Stack) -> Iterator[tuple[KeycloakAdmin, str, str]]:
    admin = keycloak_admin(stack)
    username = f"itest-{uuid.uuid4().hex[:6]}"
    admin.post(
        f"/{stack.realm}/users",
        {
            "username": username,
            "enabled": True,
            "emailVerified": True,
            "firstName": "I",
            "lastName": "Test",
            "email": f"{username}@example.org",
        },
    )
    user_id = admin.get(f"/{stack.realm}/users", username=username, exact="true")[0]["id"]
    try:
        yield admin, username, user_id
    finally:
        admin.delete(f"/{stack.realm}/users/{user_id}")


def _set_password(
    stack: Stack, admin: KeycloakAdmin, user_id: str, password: str
) -> httpx.Response:
    return admin.http.put(
        f"/{stack.realm}/users/{user_id}/reset-password",
        json={"type": "password", "value": password, "temporary": False},
    )


def test_password_policy_refuses_weak_passwords(stack: Stack, throwaway_user) -> None:
    admin, username, user_id = throwaway_user
    weak = _set_password(stack, admin, user_id, "short1A")
    assert weak.status_code == 400
    assert "length" in weak.text.lower() or "minimum" in weak.text.lower()
    assert _set_password(stack, admin, user_id, "alllowercase123456").status_code == 400
    assert _set_password(stack, admin, user_id, f"Str0ng-{uuid.uuid4().hex}").status_code == 204


def test_repeated_failed_logins_lock_the_account(stack: Stack, throwaway_user) -> None:
    admin, username, user_id = throwaway_user
    assert _set_password(stack, admin, user_id, f"Str0ng-{uuid.uuid4().hex}").status_code == 204
    for attempt in range(5):
        if attempt:
            time.sleep(1.1)  # slower than the realm's quick-login check: count failures only
        browser = CookieCarrier()
        page = login_page(browser, stack, challenge="x" * 43)
        browser.submit_login(page, username, "Wrong-password-1")
    status = admin.get(f"/{stack.realm}/attack-detection/brute-force/users/{user_id}")
    assert status["disabled"] is True, status
    assert status["numFailures"] == 5  # the realm's failureFactor
