"""Browser steps a user takes: log in through Keycloak, run code in JupyterLab."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import Page, expect

from tests.support.stack import Stack
from tests.support.totp import one_time_code

SERVER_START_TIMEOUT = 120_000
CELL_TIMEOUT = 60_000
#: The accessible name of JupyterLab's status-bar kernel item once the kernel is idle.
KERNEL_IDLE = re.compile(r"\| Idle$")


def login(page: Page, stack: Stack, user: str) -> None:
    """Sign a demo user in on the hub's login page, through Keycloak's login form."""
    sign_in(page, stack, user, stack.password(user))
    if secret := stack.totp_secret(user):  # a hub admin: Keycloak asks for a one-time code
        give_one_time_code(page, secret)


def sign_in(page: Page, stack: Stack, user: str, password: str) -> None:
    """The hub's login page, then Keycloak's login form with ``user`` and ``password``."""
    page.goto(f"{stack.public_url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    page.get_by_label("Username or email").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign In").click()


def give_one_time_code(page: Page, secret: str) -> None:
    """Keycloak's one-time code form, with a code of ``secret`` (pyotp)."""
    page.get_by_label("One-time code").fill(one_time_code(secret))
    page.get_by_role("button", name="Sign In").click()


def wait_for_lab(page: Page, user: str) -> None:
    """After login the hub starts the server and opens the demo notebook in JupyterLab."""
    expect(page).to_have_url(re.compile(rf"/user/{user}/lab"), timeout=SERVER_START_TIMEOUT)
    expect_kernel_idle(page)


def expect_kernel_idle(page: Page) -> None:
    """JupyterLab's status bar shows the kernel as idle once it has started."""
    idle = page.get_by_role("button", name=KERNEL_IDLE)
    expect(idle).to_be_visible(timeout=CELL_TIMEOUT)


def open_notebook(page: Page, stack: Stack, user: str, name: str) -> None:
    """Open one notebook in a fresh workspace (``?reset``) and wait for its kernel."""
    page.goto(f"{stack.server_url(user)}/lab/tree/{name}?reset")
    # The status bar describes the active notebook once it is open; then wait for its kernel.
    expect(page.get_by_role("contentinfo").get_by_text(name)).to_be_visible(timeout=CELL_TIMEOUT)
    expect_kernel_idle(page)


def run_all(page: Page) -> None:
    """Run > Run All Cells, as a user would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


#: Runs in JupyterLab's page: one call of the Jupyter server's REST API, from the server's
#: own origin (its host name, <user>.localhost, is resolved by Chromium, not by Playwright's
#: driver), with the XSRF token the page's cookie holds, as JupyterLab itself sends it.
IN_PAGE_API = """async ([method, url, body]) => {
  const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "";
  const headers = {"X-XSRFToken": xsrf, "Content-Type": "application/json"};
  const answer = await fetch(url, {method, body, headers, credentials: "same-origin"});
  return [answer.status, await answer.text()];
}"""


def server_api(page: Page, method: str, url: str, body: object = None) -> tuple[int, str]:
    """``method url`` of the user's Jupyter server, sent by the page (which shows JupyterLab)."""
    data = None if body is None else json.dumps(body)
    status, text = page.evaluate(IN_PAGE_API, [method, url, data])
    return status, text


def notebook_model(cells: list[str]) -> dict:
    """A Python notebook of code cells, not run yet, as Jupyter's contents API takes it."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            {
                "cell_type": "code",
                "source": src,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
                "id": uuid.uuid4().hex[:8],
            }
            for src in cells
        ],
    }


def run_cells(
    page: Page, stack: Stack, user: str, cells: list[str], keep_kernel: bool = False
) -> list[str]:
    """Save ``cells`` as a new notebook (Jupyter's contents API), open it, Run All, and
    return the text of every output, in order. The last cell prints a sentinel we wait for.
    Afterwards the notebook is deleted and, unless ``keep_kernel``, its kernel shut down."""
    name = f"e2e-{uuid.uuid4().hex[:8]}.ipynb"
    done = f"E2E-DONE-{uuid.uuid4().hex[:6]}"
    notebook = notebook_model([*cells, f"print({done!r})"])
    base = stack.server_url(user)
    body = {"type": "notebook", "content": notebook}
    status, text = server_api(page, "PUT", f"{base}/api/contents/{name}", body)
    assert status in (200, 201), f"saving {name} failed: {status} {text}"
    open_notebook(page, stack, user, name)
    run_all(page)
    expect(page.locator(".jp-OutputArea-output", has_text=done)).to_be_visible(timeout=CELL_TIMEOUT)
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    if not keep_kernel:
        for session in json.loads(server_api(page, "GET", f"{base}/api/sessions")[1]):
            if session["path"] == name:
                server_api(page, "DELETE", f"{base}/api/sessions/{session['id']}")
    server_api(page, "DELETE", f"{base}/api/contents/{name}")
    return outputs


def run_as(
    page: Page, stack: Stack, user: str, cells: list[str], keep_kernel: bool = False
) -> list[str]:
    """Log ``user`` in, wait for JupyterLab, then ``run_cells``."""
    login(page, stack, user)
    wait_for_lab(page, user)
    return run_cells(page, stack, user, cells, keep_kernel=keep_kernel)


def results(outputs: list[str]) -> dict[str, object]:
    """Cells report with ``print("RESULT", name, json.dumps(value))``."""
    found: dict[str, object] = {}
    for text in outputs:
        for line in text.splitlines():
            if line.startswith("RESULT "):
                _, key, value = line.split(" ", 2)
                found[key] = json.loads(value)
    return found
