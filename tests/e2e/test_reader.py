"""The reader: logs in through Keycloak, lists usual fruits, is refused writes clearly."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from stackconf import settings as conf
from stackconf.secrets import SECRET_NAMES
from tests.support.jupyterlab import login, open_notebook, results, run_all, run_as, wait_for_lab
from tests.support.login_flows import hub_session
from tests.support.stack import Stack

JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+")


def test_demo_notebook_lists_usual_fruits_and_refuses_writes(page: Page, stack: Stack) -> None:
    login(page, stack, "reader")
    wait_for_lab(page, "reader")
    open_notebook(page, stack, "reader", "fruits-demo.ipynb")
    run_all(page)
    usual = page.locator(".jp-OutputArea-output", has_text="usual fruits:")
    expect(usual).to_contain_text("apple", timeout=60_000)
    refused = page.locator(".jp-OutputArea-output", has_text="Not allowed:").first
    expect(refused).to_contain_text("fruits:write")
    expect(refused).to_contain_text("fruit-writer")
    # The token cell shows the notebook view of the token (see the test below for its secret).
    view = page.locator(".jp-OutputArea-output", has_text="AccessToken for fruit-api").first
    expect(view).to_be_visible()
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert not [t for t in texts if JWT.search(t)], "an output shows a JWT"
    page.screenshot(path="test-results/reader-demo-notebook.png", full_page=True)


def shown(secret: dict[str, object], outputs: list[str]) -> bool:
    """Whether any output contains the text whose length and SHA-256 ``secret`` gives (the
    test never sees the token itself, only what the kernel says about it)."""
    size, digest = int(secret["length"]), secret["sha256"]
    return any(
        hashlib.sha256(text[i : i + size].encode()).hexdigest() == digest
        for text in outputs
        for i in range(len(text) - size + 1)
    )


@pytest.mark.runtime_neutral  # the broker's and the client's code, in any runtime
def test_token_views_never_show_the_secret(page: Page, stack: Stack) -> None:
    """repr(), str(), format() and the notebook's rich display of a minted token show its
    audience and scope but neither the token nor its payload or signature."""
    outputs = run_as(
        page,
        stack,
        "reader",
        [
            "import hashlib, json, hubtokens\n"
            "token = hubtokens.get('fruit-api', scope='fruits:read')\n"
            "header, payload, signature = token.value.split('.')\n"
            "secrets = {'token': token.value, 'payload': payload, 'signature': signature}\n"
            "def about(text):\n"
            "    return {'length': len(text), 'sha256': hashlib.sha256(text.encode()).hexdigest()}\n"
            "print('RESULT secrets', json.dumps({k: about(v) for k, v in secrets.items()}))\n",
            "token",  # the notebook's own display (HTML in JupyterLab)
            "print(repr(token))\nprint(str(token))\nprint(f'{token}')\nprint(token._repr_html_())\n",
            "bundle, _ = get_ipython().display_formatter.format(token)\n"
            "views = {'repr': repr(token), 'str': str(token), 'format': f'{token}',\n"
            "         'html': token._repr_html_(), **{m: str(v) for m, v in bundle.items()}}\n"
            "leaks = [f'{s} in {v}' for s, x in secrets.items() for v, t in views.items() if x in t]\n"
            "print('RESULT views', json.dumps(sorted(views)))\n"
            "print('RESULT leaks', json.dumps(leaks))\n",
        ],
    )
    r = results(outputs)
    assert {"text/plain", "text/html", "repr", "str", "html"} <= set(r["views"]), r["views"]
    assert r["leaks"] == []  # checked in the kernel, where the token is
    secrets = r["secrets"]
    assert secrets["token"]["length"] > secrets["signature"]["length"] > 40
    # The views were really shown: the rendered display, and the printed repr, str, format
    # and HTML (one output: a cell's prints share one stream).
    rendered = [o for o in outputs if "AccessToken for fruit-api" in o and "<caption>" not in o]
    assert rendered, outputs
    printed = [o for o in outputs if "<caption>AccessToken for fruit-api" in o]
    assert len(printed) == 1, outputs
    assert printed[0].count("<AccessToken audience='fruit-api' scope='fruits:read'") == 3
    # Checked again outside, on what the page shows: no window of any output hashes to the
    # token, its payload or its signature.
    assert [name for name, secret in secrets.items() if shown(secret, outputs)] == []
    assert not [o for o in outputs if JWT.search(o)]


@pytest.mark.runtime_neutral  # the broker's and the client's code, in any runtime
def test_broker_contract_from_a_notebook(page: Page, stack: Stack) -> None:
    outputs = run_as(
        page,
        stack,
        "reader",
        [
            "import json, os, httpx\n"
            "url = os.environ['JUPYTERHUB_API_URL'] + '/token-exchange'\n"
            "auth = {'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']}\n"
            "def call(body, headers=auth):\n"
            "    r = httpx.post(url, json=body, headers=headers)\n"
            "    b = r.json()\n"
            "    return {'status': r.status_code, 'error': b.get('error'), 'message': b.get('message'),\n"
            "            'keys': sorted(b), 'expires_in': b.get('expires_in'), 'scope': b.get('scope')}\n"
            "print('RESULT ok', json.dumps(call({'audience': 'fruit-api', 'scope': 'fruits:read'})))\n"
            "print('RESULT as_list', json.dumps(call({'audience': 'fruit-api', 'scope': ['fruits:read']})))\n"
            "print('RESULT unknown_field', json.dumps(call({'audience': 'fruit-api', 'scope': 'fruits:read', 'requested_token_type': 'x'})))\n"
            "print('RESULT bad_audience', json.dumps(call({'audience': 'payroll', 'scope': 'fruits:read'})))\n"
            "print('RESULT unknown_scope', json.dumps(call({'audience': 'fruit-api', 'scope': 'fruits:eat'})))\n"
            "print('RESULT not_granted', json.dumps(call({'audience': 'fruit-api', 'scope': 'fruits:write'})))\n"
            "print('RESULT no_token', json.dumps(call({'audience': 'fruit-api', 'scope': 'fruits:read'}, headers={})))\n"
            "listing = httpx.get(url, headers=auth).json()['audiences']['fruit-api']['scopes']\n"
            "print('RESULT listing', json.dumps({k: v['granted'] for k, v in listing.items()}))\n"
        ],
    )
    r = results(outputs)
    assert r["ok"]["status"] == 200, r["ok"]
    assert r["ok"]["keys"] == [
        "access_token",
        "audience",
        "expires_at",
        "expires_in",
        "scope",
        "token_type",
    ]
    assert 0 < r["ok"]["expires_in"] <= 300
    assert r["ok"]["scope"] == "fruits:read"
    assert r["as_list"]["status"] == 200
    assert (r["unknown_field"]["status"], r["unknown_field"]["error"]) == (400, "invalid_request")
    assert "requested_token_type" in r["unknown_field"]["message"]
    assert (r["bad_audience"]["status"], r["bad_audience"]["error"]) == (
        403,
        "audience_not_allowed",
    )
    assert (r["unknown_scope"]["status"], r["unknown_scope"]["error"]) == (403, "scope_not_allowed")
    assert (r["not_granted"]["status"], r["not_granted"]["error"]) == (403, "scope_not_allowed")
    assert "fruit-writer" in r["not_granted"]["message"]
    assert r["no_token"]["status"] in (401, 403)
    assert r["listing"] == {"fruits:read": True, "fruits:write": False, "fruits:exotic": False}


def kernel_environment(stack: Stack, pid: int) -> dict[str, str]:
    """The environment a kernel process started with, read from outside the notebook (so no
    secret is ever sent into it): /proc/PID/environ of the server's container (compose: the
    PID is the kernel's in the container's namespace), or of this machine (native: user
    servers are local processes)."""
    if stack.runtime == "compose":
        names = subprocess.run(
            ["docker", "ps", "--filter", "name=jupyter-reader", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert len(names) == 1, f"expected one server container of reader, found {names}"
        raw = subprocess.run(
            ["docker", "exec", names[0], "cat", f"/proc/{pid}/environ"],
            capture_output=True,
            check=True,
        ).stdout
    else:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    items = raw.decode(errors="replace").split("\0")
    return dict(item.split("=", 1) for item in items if "=" in item)


def test_notebook_environment_holds_no_secret(page: Page, stack: Stack) -> None:
    secrets = {name: stack.secrets.get(name, "") for name in SECRET_NAMES}
    assert all(secrets.values()), [name for name, value in secrets.items() if not value]
    digests = [hashlib.sha256(value.encode()).hexdigest() for value in secrets.values()]
    outputs = run_as(
        page,
        stack,
        "reader",
        [
            "import hashlib, json, os, re\n"
            f"digests = set({digests!r})\n"
            "leaks = [k for k, v in os.environ.items() if hashlib.sha256(v.encode()).hexdigest() in digests]\n"
            "suspicious = [k for k in os.environ if re.search(r'SECRET|CRYPT|REFRESH|PASSWORD|ID_TOKEN', k)]\n"
            "values = ' '.join(os.environ.values())\n"
            "print('RESULT leaks', json.dumps(leaks))\n"
            "print('RESULT suspicious', json.dumps(suspicious))\n"
            "print('RESULT jwt_in_env', json.dumps(bool(re.search(r'eyJ[\\w-]+\\.eyJ', values))))\n"
            "print('RESULT has_api_token', json.dumps('JUPYTERHUB_API_TOKEN' in os.environ))\n"
            "print('RESULT kernel', json.dumps({'pid': os.getpid(), 'names': sorted(os.environ)}))\n"
        ],
        keep_kernel=True,  # its environment is read from outside below
    )
    r = results(outputs)
    assert r["has_api_token"] is True  # the check ran inside a real hub-spawned server
    assert r["leaks"] == []  # no whole value is a secret
    assert r["suspicious"] == []
    assert r["jwt_in_env"] is False
    # No secret inside any value either (e.g. in a URL). The test reads the kernel's
    # environment from outside rather than sending the secrets into the notebook.
    env = kernel_environment(stack, r["kernel"]["pid"])
    assert env.get("JUPYTERHUB_USER") == "reader" and "JUPYTERHUB_API_TOKEN" in env
    assert set(env) <= set(r["kernel"]["names"]), "not the kernel's environment"
    inside = [f"{n} in {k}" for n, s in secrets.items() for k, v in env.items() if s in v]
    assert inside == []


def test_after_logout_a_running_kernel_cannot_mint(page: Page, stack: Stack) -> None:
    """A kernel keeps minting in a thread; its user logs out. By default the hub stops the
    user's servers at logout (HUB_STOP_SERVERS_ON_LOGOUT): the kernel stops with its server.
    A hub that keeps servers running must answer the kernel's next mint with login_required."""
    marker = f"mint-watch-{int(time.time())}.txt"
    outputs = run_as(
        page,
        stack,
        "reader",
        [
            "import pathlib, threading, time, hubtokens\n"
            f"out = pathlib.Path({marker!r})\n"
            "def watch():\n"
            "    for i in range(600):\n"
            "        hubtokens.clear_cache()\n"
            "        try:\n"
            "            hubtokens.get('fruit-api', scope='fruits:read')\n"
            "            out.write_text(f'{i} ok')\n"
            "        except hubtokens.HubTokensError as e:\n"
            "            out.write_text(f'{i} {e.code}: {e}')\n"
            "        time.sleep(0.5)\n"
            "threading.Thread(target=watch, daemon=True).start()\n"
            "time.sleep(1.5)\n"
            "print('RESULT before', repr(out.read_text()).replace(\"'\", '\"'))\n"
        ],
        keep_kernel=True,  # the kernel must be running at the logout
    )
    assert results(outputs)["before"].endswith(" ok")
    page.goto(f"{stack.public_url}/hub/logout")  # asks first: logging out is a POST
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("Sign in with Keycloak")).to_be_visible()
    # The Keycloak session ended too: signing in again asks for the password.
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    watch_file = stack.user_file("reader", marker)
    if conf.get_bool("HUB_STOP_SERVERS_ON_LOGOUT"):
        admin = hub_session(stack, "hubadmin")
        reader = f"{stack.public_url}/hub/api/users/reader"
        headers = {"X-XSRFToken": admin.cookies["_xsrf"]}
        deadline = time.monotonic() + 60
        while admin.request("GET", reader, headers=headers).json()["servers"]:
            assert time.monotonic() < deadline, "the reader's server still runs after logout"
            time.sleep(1)
        last = watch_file.read_text()
        time.sleep(2)  # the watcher wrote every 0.5 s while its kernel lived
        assert watch_file.read_text() == last, "a kernel still runs after logout"
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "login_required" not in watch_file.read_text():
        time.sleep(0.5)
    outcome = watch_file.read_text()
    assert "login_required" in outcome, outcome
    assert "log in" in outcome.lower()
