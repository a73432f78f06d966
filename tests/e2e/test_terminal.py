"""The reader in a JupyterLab terminal: ``curl`` with ``$(hubtokens get ...)`` lists the
fruits, and a scope the reader lacks is refused with one line and its exit status; the token
file the admin names (idp/apis.yml) is there, in memory, mode 0600, and curl reads it."""

from __future__ import annotations

import json
import time
import uuid

from playwright.sync_api import Page, expect

from hubtokens.cli import EXIT_STATUS
from tests.support.jupyterlab import CELL_TIMEOUT, login, server_api, wait_for_lab
from tests.support.stack import Stack


def read_file(page: Page, stack: Stack, user: str, name: str, timeout: float = 60.0) -> str:
    """The text of a file in the user's home, once it exists and is not empty (the terminal
    writes it; write the file the test waits for last)."""
    url = f"{stack.server_url(user)}/api/contents/{name}?content=1&type=file&format=text"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, text = server_api(page, "GET", url)
        if status == 200 and json.loads(text)["content"]:
            return json.loads(text)["content"]
        time.sleep(0.5)
    raise AssertionError(f"the terminal did not write {name} within {timeout:.0f} s")


def open_terminal(page: Page, stack: Stack, user: str) -> set[str]:
    """Log in, open a JupyterLab terminal and focus it; the terminals that were there before."""
    login(page, stack, user)
    wait_for_lab(page, user)
    before = {t["name"] for t in json.loads(server_api(page, "GET", terminals(stack, user))[1])}
    page.get_by_role("menuitem", name="File", exact=True).click()
    page.locator(".lm-Menu-item[data-type='submenu']", has_text="New").first.hover()
    page.locator(".lm-Menu-item", has_text="Terminal").first.click()
    terminal = page.locator(".jp-Terminal").last
    expect(terminal).to_be_visible(timeout=CELL_TIMEOUT)
    terminal.click()
    return before


def terminals(stack: Stack, user: str) -> str:
    return f"{stack.server_url(user)}/api/terminals"


def clean_up(page: Page, stack: Stack, user: str, files: tuple[str, ...], before: set[str]):
    """Delete the test's files and close the terminals it opened."""
    for name in files:
        server_api(page, "DELETE", f"{stack.server_url(user)}/api/contents/{name}")
    for terminal in json.loads(server_api(page, "GET", terminals(stack, user))[1]):
        if terminal["name"] not in before:
            server_api(page, "DELETE", f"{terminals(stack, user)}/{terminal['name']}")


def test_curl_in_a_terminal_with_hubtokens_get(page: Page, stack: Stack) -> None:
    user, run = "reader", uuid.uuid4().hex[:6]
    before = open_terminal(page, stack, user)
    files = (f"fruits-{run}.json", f"denied-{run}.rc", f"denied-{run}.err", f"fruits-{run}.rc")
    try:
        # What a user types, one command at a time; each result also goes to a file that the
        # test reads back through the server's API.
        page.keyboard.type(
            'curl -s -H "Authorization: Bearer $(hubtokens get fruit-api fruits:read)" '
            f'"$FRUIT_API_URL/fruits/usual" | tee {files[0]}; echo $? > {files[3]}; echo\n',
            delay=2,
        )
        assert read_file(page, stack, user, files[3]).strip() == "0"
        answer = json.loads(read_file(page, stack, user, files[0]))
        assert answer["kind"] == "usual" and "apple" in answer["fruits"], answer
        page.keyboard.type(
            f"hubtokens get fruit-api fruits:write 2> {files[2]}; echo $? > {files[1]}; "
            f"cat {files[2]}\n",  # the status file last: the test waits for it
            delay=2,
        )
        status = int(read_file(page, stack, user, files[1]).strip())
        assert status == EXIT_STATUS["scope_not_allowed"]
        (line,) = read_file(page, stack, user, files[2]).strip().splitlines()
        assert line.startswith("hubtokens: scope_not_allowed: ") and "fruits:write" in line
        assert "hubtokens list" in line  # the hint a terminal user can follow
        page.screenshot(path="test-results/reader-terminal-hubtokens.png")
    finally:
        clean_up(page, stack, user, files, before)


def test_a_token_file_kept_fresh_in_memory(page: Page, stack: Stack) -> None:
    user, run = "reader", uuid.uuid4().hex[:6]
    before = open_terminal(page, stack, user)
    files = (f"file-fruits-{run}.json", f"file-{run}.facts", f"file-{run}.rc")
    token_file = '"$XDG_RUNTIME_DIR/hubtokens/fruit-api"'
    try:
        # The server writes it a moment after it starts; a terminal user would just cat it.
        page.keyboard.type(
            f"for i in $(seq 100); do [ -s {token_file} ] && break; sleep 0.2; done; "
            f'curl -s -H "Authorization: Bearer $(cat {token_file})" '
            f'"$FRUIT_API_URL/fruits/usual" > {files[0]}; '
            f"stat -c '%a %s' {token_file} > {files[1]}; "
            f"df --output=fstype {token_file} | tail -n 1 >> {files[1]}; "
            f"hubtokens files | grep -c 'idp/apis.yml  *expires in' >> {files[1]}; "
            f"echo $? > {files[2]}\n",
            delay=2,
        )
        assert read_file(page, stack, user, files[2]).strip() == "0"
        answer = json.loads(read_file(page, stack, user, files[0]))
        assert answer["kind"] == "usual" and "apple" in answer["fruits"], answer
        mode_and_size, filesystem, listed = read_file(page, stack, user, files[1]).split("\n")[:3]
        mode, size = mode_and_size.split()
        assert mode == "600" and int(size) > 100  # a JWT, readable by the user only
        assert filesystem == "tmpfs"  # in memory, never in the home volume
        assert listed == "1"  # hubtokens files shows it, with its expiry
    finally:
        clean_up(page, stack, user, files, before)
