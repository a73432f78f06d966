"""Login to kernel (issue 11): from the Sign In click to JupyterLab with an idle kernel.

Run with ``python -m tests.bench.bench_login [--runs N] [--json PATH]`` against the running
stack, either runtime (``make bench`` runs it). A script that prints a table, not a test.

Each run is what a user does on a fresh machine: a new browser (no cookies), the hub's login
page, "Sign in with Keycloak", the user's name and password, then the Sign In click, which
starts the clock. The hub gets the login, spawns the server and opens the demo notebook in
JupyterLab; the clock stops when JupyterLab's status bar shows the notebook's kernel idle.
Before each run the user's server is stopped, so that every run includes the spawn.

The breakdown comes from the page's own navigations, timed as they happen:

  Keycloak     Sign In click -> the hub's answer to Keycloak's redirect (oauth_callback: the
               password checked, the code exchanged, the login stored)
  spawn        -> JupyterLab's URL (the hub started the server, waited for it and for its
               route, showed its pending page meanwhile, and the server's own OAuth with the
               hub)
  JupyterLab   -> the lab page's ``load`` event (its HTML, scripts and styles)
  kernel       -> the kernel shows idle (the notebook opened, its kernel started)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from tests.bench import tables
from tests.bench.stack import bench_stack
from tests.support import chromium
from tests.support.jupyterlab import CELL_TIMEOUT, KERNEL_IDLE
from tests.support.login_flows import hub_session
from tests.support.stack import Stack

USER = "reader"
STEPS = ("Keycloak", "spawn", "JupyterLab", "kernel")
#: The longest a whole run may take (a spawn waits up to 120 s in the hub).
RUN_TIMEOUT_MS = 180_000


def stop_server(stack: Stack, user: str, timeout: float = 60.0) -> None:
    """Stop ``user``'s default server (if running) and wait until the hub says so."""
    session = hub_session(stack, user)
    api = f"{stack.public_url}/hub/api/users/{user}"
    headers = {"X-XSRFToken": session.cookies["_xsrf"]}
    try:
        session.request("DELETE", f"{api}/server", headers=headers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = session.request("GET", api, headers=headers).json()
            if "" not in model.get("servers", {}):
                return
            time.sleep(0.3)
        raise RuntimeError(f"{user}'s server did not stop within {timeout:.0f} s")
    finally:
        session.http.close()


def one_login(page: Page, stack: Stack, user: str) -> dict[str, float]:
    """One login; seconds per step (``STEPS``) and ``total``."""
    marks: dict[str, float] = {}
    lab = re.compile(rf"/user/{user}/lab")

    def answered(response) -> None:  # noqa: ANN001 (Playwright's Response)
        if "clicked" in marks and "hub" not in marks and "/hub/oauth_callback" in response.url:
            marks["hub"] = time.perf_counter()  # the hub has the login (its redirect onwards)

    def navigated(frame) -> None:  # noqa: ANN001 (Playwright's Frame)
        if frame == page.main_frame and "lab" not in marks and lab.search(frame.url):
            marks["lab"] = time.perf_counter()

    page.on("response", answered)
    page.on("framenavigated", navigated)
    page.goto(f"{stack.public_url}/hub/login")
    page.get_by_text("Sign in with Keycloak").click()
    page.get_by_label("Username or email").fill(user)
    page.get_by_label("Password", exact=True).fill(stack.password(user))
    marks["clicked"] = time.perf_counter()
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lab, timeout=RUN_TIMEOUT_MS, wait_until="load")
    marks["loaded"] = time.perf_counter()
    # wait_for polls the page continuously; expect() backs off to once a second, which would
    # add up to a second to the step it times.
    page.get_by_role("button", name=KERNEL_IDLE).wait_for(state="visible", timeout=CELL_TIMEOUT)
    marks["idle"] = time.perf_counter()
    marks.setdefault("hub", marks.get("lab", marks["loaded"]))
    marks.setdefault("lab", marks["loaded"])
    return {
        "Keycloak": marks["hub"] - marks["clicked"],
        "spawn": marks["lab"] - marks["hub"],
        "JupyterLab": marks["loaded"] - marks["lab"],
        "kernel": marks["idle"] - marks["loaded"],
        "total": marks["idle"] - marks["clicked"],
    }


def table(runs: list[dict[str, float]]) -> str:
    header = ("step", *(f"run {i + 1}" for i in range(len(runs))), "p50 s")
    rows = [
        (step, *(f"{r[step]:.2f}" for r in runs), f"{statistics.median(r[step] for r in runs):.2f}")
        for step in (*STEPS, "total")
    ]
    return tables.render(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_login",
        description="Sign In click to JupyterLab with an idle kernel, with a breakdown.",
    )
    parser.add_argument("--runs", type=int, default=5, help="logins (default 5)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    stack = bench_stack("bench_login")

    runs: list[dict[str, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**chromium.launch_args())
            for _ in range(args.runs):
                stop_server(stack, USER)
                context = browser.new_context()
                try:
                    runs.append(one_login(context.new_page(), stack, USER))
                finally:
                    context.close()
            browser.close()
    except (RuntimeError, AssertionError, httpx.HTTPError) as e:
        print(f"bench_login: failed against {stack.public_url}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # Playwright's timeouts and errors: say which, not a traceback
        print(f"bench_login: the browser failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1

    print(
        f"Login to kernel ({stack.runtime}): {USER}, Sign In click to JupyterLab with an idle "
        f"kernel, a fresh browser and a stopped server each run, {len(runs)} runs\n"
    )
    print(table(runs))
    if args.json:
        args.json.write_text(json.dumps({"runtime": stack.runtime, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
