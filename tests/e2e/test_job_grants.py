"""The Job grants page in a browser (docs/jobs.md): the curator makes a grant for scheduled
work (the hub sends the browser to Keycloak for a fresh sign-in and the consent screen),
sees it listed with its deadline, and revokes it. Screenshots for the docs."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.support.stack import Stack

pytestmark = pytest.mark.runtime_neutral

SHOTS = "test-results"
USER = "curator"


def sign_in_at_keycloak(page: Page, stack: Stack) -> None:
    """Keycloak's sign-in form; when it asks again in the same session (prompt=login) it
    knows who you are and asks for the password alone."""
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_visible(timeout=30_000)
    if page.get_by_label("Username or email").is_visible():
        page.get_by_label("Username or email").fill(USER)
    password.fill(stack.password(USER))
    page.get_by_role("button", name="Sign In").click()


def test_a_grant_is_confirmed_at_keycloak_listed_and_revoked(page: Page, stack: Stack) -> None:
    # Log in straight to the Job grants page (no server is started for it).
    page.goto(f"{stack.public_url}/hub/login?next={quote('/hub/grants')}")
    page.get_by_text("Sign in with Keycloak").click()
    sign_in_at_keycloak(page, stack)
    expect(page.get_by_role("heading", name="Job grants")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("link", name="Job grants")).to_be_visible()  # in the menu

    name = f"nightly-{uuid.uuid4().hex[:6]}"
    form = page.get_by_role("form", name="New grant")
    form.get_by_label("Name").fill(name)
    form.locator("input[name=scope][value='fruits:read']").check()
    form.get_by_label("Days").fill("3")
    page.screenshot(path=f"{SHOTS}/jobs-new-grant.png", full_page=True)
    form.get_by_role("button", name="Confirm at Keycloak").click()

    # Keycloak asks for the password again, then shows what the grant holds.
    sign_in_at_keycloak(page, stack)
    expect(page.get_by_text("Offline Access")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Read the usual fruit list")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/jobs-consent.png", full_page=True)
    page.get_by_role("button", name="Yes").click()

    expect(page.get_by_role("status")).to_contain_text(f"Grant {name} is active until")
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("fruits:read")
    expect(row).to_contain_text("active")
    page.screenshot(path=f"{SHOTS}/jobs-grants.png", full_page=True)

    row.get_by_role("button", name=f"Revoke {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Grant {name} is revoked.")
    expect(page.get_by_role("row").filter(has_text=name)).to_contain_text("revoked by its owner")
