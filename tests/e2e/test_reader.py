"""The reader: logs in through Keycloak, lists usual fruits, is refused writes clearly."""

from __future__ import annotations

import hashlib
import time

from playwright.sync_api import Page, expect

from tests.e2e.jupyter import login, open_notebook, results, run_all, run_cells, wait_for_lab
from tests.support.stack import Stack

SECRET_NAMES = (
    "JUPYTERHUB_CLIENT_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "JPY_COOKIE_SECRET",
    "TRAEFIK_API_PASSWORD",
    "KC_BOOTSTRAP_ADMIN_PASSWORD",
)


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
    # The token's repr shows its audience and scope, never the token itself.
    expect(page.locator(".jp-OutputArea-output", has_text="fruit-api").first).to_be_visible()
    page.screenshot(path="test-results/reader-demo-notebook.png", full_page=True)


def test_broker_contract_from_a_notebook(page: Page, stack: Stack) -> None:
    login(page, stack, "reader")
    wait_for_lab(page, "reader")
    outputs = run_cells(
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


def test_notebook_environment_holds_no_secret(page: Page, stack: Stack) -> None:
    digests = [hashlib.sha256(stack.secrets[n].encode()).hexdigest() for n in SECRET_NAMES]
    login(page, stack, "reader")
    wait_for_lab(page, "reader")
    outputs = run_cells(
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
        ],
    )
    r = results(outputs)
    assert r["has_api_token"] is True  # the check ran inside a real hub-spawned server
    assert r["leaks"] == []
    assert r["suspicious"] == []
    assert r["jwt_in_env"] is False


def test_after_logout_minting_fails_with_login_required(page: Page, stack: Stack) -> None:
    """A kernel keeps running after its user logs out; its next mint must say log in again."""
    login(page, stack, "reader")
    wait_for_lab(page, "reader")
    marker = f"mint-watch-{int(time.time())}.txt"
    outputs = run_cells(
        page,
        stack,
        "reader",
        [
            "import pathlib, threading, time, hubtokens\n"
            f"out = pathlib.Path({marker!r})\n"
            "def watch():\n"
            "    for _ in range(600):\n"
            "        hubtokens.clear_cache()\n"
            "        try:\n"
            "            hubtokens.get('fruit-api', scope='fruits:read')\n"
            "            out.write_text('ok')\n"
            "        except hubtokens.HubTokensError as e:\n"
            "            out.write_text(f'{e.code}: {e}')\n"
            "        time.sleep(0.5)\n"
            "threading.Thread(target=watch, daemon=True).start()\n"
            "time.sleep(1.5)\n"
            "print('RESULT before', repr(out.read_text()).replace(\"'\", '\"'))\n"
        ],
        keep_kernel=True,  # the kernel must outlive the logout
    )
    assert results(outputs)["before"] == "ok"
    page.goto(f"{stack.public_url}/hub/logout")
    expect(page.get_by_text("Sign in with Keycloak")).to_be_visible()
    # The Keycloak session ended too: signing in again asks for the password.
    page.get_by_text("Sign in with Keycloak").click()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    watch_file = stack.user_file("reader", marker)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not watch_file.read_text().startswith("login_required"):
        time.sleep(0.5)
    outcome = watch_file.read_text()
    assert outcome.startswith("login_required"), outcome
    assert "log in" in outcome.lower()
