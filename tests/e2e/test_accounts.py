"""Accounts, as NativeAuthenticator's users know them, done by Keycloak (docs/accounts.md).

A new user signs up on Keycloak's registration page (the username rule and the password policy
refuse bad input with their message), logs in and is told the account waits for approval; a
hub admin, made to enrol in TOTP at first login, approves the account on the hub's Access
requests page; the user logs in, starts a server and mints a token; the admin blocks the user,
whose next mint is refused with ``login_required``, whose server is stopped and whose next
login is refused by Keycloak. A hub admin without a one-time code cannot log in.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from stackconf import settings as conf
from tests.support import keycloak_users
from tests.support.jupyterlab import (
    CELL_TIMEOUT,
    SERVER_START_TIMEOUT,
    give_one_time_code,
    login,
    notebook_model,
    open_notebook,
    run_all,
    server_api,
    sign_in,
    wait_for_lab,
)
from tests.support.stack import Stack
from tests.support.totp import one_time_code

# Keycloak's and the hub's pages, the broker and the fruit API: the same in every runtime.
pytestmark = pytest.mark.runtime_neutral

PENDING = conf.get("HUB_PENDING_GROUP")
ALLOWED = conf.get_list("HUB_ALLOWED_GROUPS")[0]
ADMINS = conf.get_list("HUB_ADMIN_GROUPS")[0]
SHOTS = "test-results"
#: Keycloak locks a user out for a while after two failures closer than this (realm.yml's
#: quickLoginCheckMilliSeconds, 1000): attempts here are further apart.
QUICK_LOGIN_CHECK = 1.5

#: Minting in a tight loop until the broker refuses: what a notebook sees when its user is
#: blocked. The outcome goes to a file in the user's home too: the server stops within about a
#: second of the block, maybe before its last output reaches the browser.
OUTCOME_FILE = "e2e-block-outcome.txt"
MINT_LOOP = f"""
import os, threading, time, hubtokens
from hubtokens.client import TokenClient
def record(line):
    with open(os.path.expanduser("~/{OUTCOME_FILE}"), "a") as out:
        out.write(line + "\\n")
        out.flush()
        os.fsync(out.fileno())
    print(line, flush=True)
minted = threading.Event()
refused = threading.Event()
def mint_until_refused():
    client = TokenClient(cache_margin=1e9)  # its own client, no cache hit: the broker decides
    deadline = time.time() + 240
    while time.time() < deadline and not refused.is_set():
        try:
            client.get("fruit-api", "fruits:read")
            client.clear()
            if not minted.is_set():
                minted.set()
                record("MINTED")
        except hubtokens.HubTokensError as e:
            if e.code not in ("rate_limited", "idp_unavailable", "hub_unavailable"):
                if not refused.is_set():
                    refused.set()
                    record("REFUSED " + e.code)
threads = [threading.Thread(target=mint_until_refused) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


@pytest.fixture
def names(stack: Stack) -> Iterator[dict[str, str]]:
    """A new user's and a new hub admin's names and passwords; both deleted afterwards."""
    tag = secrets.token_hex(3)
    made = {
        "user": f"newbie-{tag}",
        "user_password": f"Newbie-{secrets.token_hex(6)}",
        "admin": f"admin-{tag}",
        "admin_password": f"Admin-{secrets.token_hex(6)}",
    }
    keycloak_users.users(
        stack,
        create=[
            {
                "username": made["admin"],
                "password": made["admin_password"],
                "groups": [ALLOWED, ADMINS],
            }
        ],
    )
    yield made
    keycloak_users.users(stack, delete=[made["user"], made["admin"]])


def open_registration(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.public_url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    page.get_by_role("link", name="Register").click()
    expect(page.locator("#kc-register-form")).to_be_visible()


def register(page: Page, username: str, password: str) -> None:
    """Keycloak's registration form; the e-mail is left empty (optional in the demo)."""
    page.locator("#username").fill(username)
    page.locator("#firstName").fill("New")
    page.locator("#lastName").fill("User")
    page.locator("#password").fill(password)
    page.locator("#password-confirm").fill(password)
    page.locator("#kc-register-form").get_by_role("button", name="Register").click()


def enrol_in_totp(page: Page) -> str:
    """Keycloak's authenticator set-up page (required of hub admins): read the key it offers,
    answer with a code of it; returns the key."""
    expect(page.get_by_text("Mobile Authenticator Setup")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name=re.compile("Unable to scan")).click()
    key = page.locator("#kc-totp-secret-key").inner_text().replace(" ", "")
    page.locator("#totp").fill(one_time_code(key))
    page.locator("#saveTOTPBtn").click()
    return key


def admin_logs_in(page: Page, stack: Stack, admin: str, password: str) -> str:
    """A new hub admin's first login: password, then the TOTP enrolment; returns the key."""
    sign_in(page, stack, admin, password)
    key = enrol_in_totp(page)
    # Logged in, the hub starts the admin's server and the spawn page moves on to it by
    # itself: wait until it has, or a page opened meanwhile is navigated away from.
    expect(page).to_have_url(re.compile(rf"/user/{admin}/lab"), timeout=SERVER_START_TIMEOUT)
    return key


def decide(page: Page, stack: Stack, username: str, action: str) -> None:
    """Click ``action`` (Approve, Block, ...) on the user's row of the Access requests page."""
    page.goto(f"{stack.public_url}/hub/access-requests")
    row = page.locator(f"tr[data-user='{username}']")
    row.get_by_role("button", name=f"{action} {username}").click()
    done = {"Approve": "approved", "Block": "blocked", "Reject": "rejected"}[action]
    expect(page.get_by_role("status")).to_have_text(f"{username} {done}")


def join_group(stack: Stack, username: str, group: str) -> None:
    """As Keycloak's admin (an API's owner, not the hub), add ``username`` to ``group``."""
    [(_, users), (_, groups)] = keycloak_users.calls(
        stack,
        ("GET", f"/demo/users?username={username}&exact=true"),
        ("GET", "/demo/groups?max=1000"),
    )
    gid = next(g["id"] for g in groups if g["name"] == group)
    [(status, _)] = keycloak_users.calls(
        stack, ("PUT", f"/demo/users/{users[0]['id']}/groups/{gid}")
    )
    assert status == 204, status


def hub_servers(page: Page, stack: Stack, username: str) -> dict:
    """The user's servers, as a hub admin's page reads them from the hub's API."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    answer = page.request.get(
        f"{stack.public_url}/hub/api/users/{username}", headers={"X-XSRFToken": xsrf}
    )
    assert answer.ok, answer.status
    return answer.json()["servers"]


def test_sign_up_approval_and_blocking(
    page: Page, browser: Browser, stack: Stack, names: dict[str, str]
) -> None:
    user, password = names["user"], names["user_password"]

    # A new user signs up: a name a hub cannot use, then a weak password, are refused.
    open_registration(page, stack)
    register(page, "bad_name", password)
    expect(page.get_by_text(re.compile("letters, digits and hyphens"))).to_be_visible()
    register(page, user, "short")
    expect(page.get_by_text(re.compile("Invalid password: "))).to_be_visible()
    page.screenshot(path=f"{SHOTS}/accounts-sign-up-refused.png")
    register(page, user, password)
    # Signed up and logged in, but not approved yet: a page that says so.
    expect(page.get_by_role("heading", name="Waiting for approval")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(re.compile("waits for approval by a hub admin"))).to_be_visible()
    page.screenshot(path=f"{SHOTS}/accounts-waiting.png")

    # A new hub admin logs in (made to enrol in TOTP) and approves the account.
    admin_context = browser.new_context()
    admin_page = admin_context.new_page()
    admin_logs_in(admin_page, stack, names["admin"], names["admin_password"])
    admin_page.goto(f"{stack.public_url}/hub/access-requests")
    expect(admin_page.get_by_role("link", name="Access requests")).to_be_visible()
    pending = admin_page.locator("#pending-accounts tr[data-user]")
    expect(pending.filter(has_text=user)).to_have_count(1)
    admin_page.screenshot(path=f"{SHOTS}/accounts-access-requests.png", full_page=True)
    decide(admin_page, stack, user, "Approve")
    expect(admin_page.locator(f"#hub-accounts tr[data-user='{user}']")).to_contain_text("active")
    # The API's owner grants the user the fruit list's read role (not the hub's business).
    join_group(stack, user, "fruit-readers")

    # The user logs in again: approved now, the server starts, a token is minted.
    page.goto(f"{stack.public_url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    if page.get_by_label("Username or email").is_visible():
        page.get_by_label("Username or email").fill(user)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign In").click()
    wait_for_lab(page, user)
    name = f"e2e-block-{secrets.token_hex(3)}.ipynb"
    status, _ = server_api(
        page,
        "PUT",
        f"{stack.server_url(user)}/api/contents/{name}",
        {"type": "notebook", "content": notebook_model([MINT_LOOP])},
    )
    assert status == 201
    open_notebook(page, stack, user, name)
    run_all(page)
    output = page.locator(".jp-OutputArea-output").first
    expect(output).to_contain_text("MINTED", timeout=CELL_TIMEOUT)
    assert hub_servers(admin_page, stack, user)  # running

    # The admin blocks the user: the next mint is refused, the server goes, Keycloak refuses.
    decide(admin_page, stack, user, "Block")
    deadline = time.monotonic() + 60
    while hub_servers(admin_page, stack, user):
        assert time.monotonic() < deadline, "the blocked user's server still runs"
        time.sleep(1)
    outcome = stack.user_file(user, OUTCOME_FILE).read_text().split()
    assert outcome[:1] == ["MINTED"] and outcome[-2:] == ["REFUSED", "login_required"], outcome
    again = browser.new_context().new_page()
    sign_in(again, stack, user, password)
    expect(again.get_by_text(re.compile("Account is disabled"))).to_be_visible()
    admin_context.close()


def test_a_hub_admin_without_a_one_time_code_cannot_log_in(
    browser: Browser, stack: Stack, names: dict[str, str]
) -> None:
    """A new hub admin (enrolled at first login), not the demo one: the wrong codes here count
    towards Keycloak's lockout, which must not lock out the admin other tests log in as."""
    admin, password = names["admin"], names["admin_password"]
    key = admin_logs_in(browser.new_context().new_page(), stack, admin, password)
    page = browser.new_context().new_page()
    sign_in(page, stack, admin, password)
    code = page.get_by_label("One-time code")
    expect(code).to_be_visible()
    page.screenshot(path=f"{SHOTS}/accounts-one-time-code.png")
    good = pyotp.TOTP(key).now()
    for wrong in ("", "000000" if good != "000000" else "111111"):
        # Two failures within a second would be a quick-login lockout (realm.yml: 60 s).
        time.sleep(QUICK_LOGIN_CHECK)
        code.fill(wrong)
        page.get_by_role("button", name="Sign In").click()
        expect(page.get_by_label("One-time code")).to_be_visible()
        assert page.url.startswith(stack.keycloak_url), page.url  # still at Keycloak
    assert not any(c["name"].startswith("jupyterhub-") for c in page.context.cookies())
    # With the right code the same login goes through (the refusals above were not vacuous).
    give_one_time_code(page, key)
    expect(page).to_have_url(re.compile(rf"/user/{admin}/|/hub/"), timeout=SERVER_START_TIMEOUT)
    assert not page.url.startswith(stack.keycloak_url), page.url


def test_the_menu_links_the_account_console_and_access_requests_are_for_admins(
    page: Page, stack: Stack
) -> None:
    login(page, stack, "reader")
    wait_for_lab(page, "reader")
    page.goto(f"{stack.public_url}/hub/home")
    link = page.get_by_role("link", name="Password & two-factor")
    expect(link).to_have_attribute("href", f"{stack.issuer}/account/account-security/signing-in")
    expect(page.get_by_role("link", name="Access requests")).to_have_count(0)  # not an admin
    # Nor may a user who is not a hub admin open the page or post a decision to it.
    url = f"{stack.public_url}/hub/access-requests"
    assert page.request.get(url).status == 403
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    posted = page.request.post(url, form={"action": "approve", "user": "x", "_xsrf": xsrf})
    assert posted.status == 403, posted.status
