"""Laptop mode, against the stack's real Keycloak: ``hubtokens login`` (device login, confirmed
in Chromium as the reader), then ``hubtokens get`` and ``hubtokens.get()`` outside any hub give
single-audience fruit-API tokens that the fruit API accepts; a scope the reader lacks is refused
as in a hub; refresh tokens rotate; ``hubtokens logout`` revokes the login at Keycloak."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from hubtokens.cli import EXIT_STATUS
from tests.support.stack import Stack
from tokencontract.claims import unverified_claims

USER = "reader"
#: The command, on a machine whose resolver follows RFC 6761 for *.localhost (Keycloak is at
#: auth.localhost; this machine's glibc does not resolve it, stackconf.localhost_names).
RESOLVE = "from stackconf import localhost_names; localhost_names.install(); "
HUBTOKENS = [sys.executable, "-c", RESOLVE + "from hubtokens.cli import main; main()"]


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    """A laptop's environment: no hub variables, a home of its own, no OS keyring (as on this
    CI machine: the login goes to the 0600 file, with the warning)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env.update(
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / ".config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return env


def hubtokens(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUBTOKENS, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def confirm_in_browser(page: Page, stack: Stack, url: str) -> None:
    """What the user does with the address the command printed: log in, confirm."""
    page.goto(url)
    expect(page.get_by_role("button", name="Sign In")).to_be_visible()
    page.get_by_label("Username or email").fill(USER)
    page.get_by_label("Password", exact=True).fill(stack.password(USER))
    page.get_by_role("button", name="Sign In").click()
    grant = page.get_by_role("button", name="Yes")  # Keycloak's consent page, if it asks
    done = page.get_by_text(re.compile("Device Login Successful", re.IGNORECASE))
    expect(grant.or_(done)).to_be_visible(timeout=30_000)
    if grant.is_visible():
        grant.click()
    expect(done).to_be_visible(timeout=30_000)


def test_login_get_and_logout_outside_a_hub(page: Page, stack: Stack, laptop) -> None:
    login = subprocess.Popen(
        [*HUBTOKENS, "login", "--issuer", stack.issuer, "fruits:read", "fruits:exotic"],
        env=laptop,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert login.stderr is not None
        prompt = login.stderr.readline()
        match = re.search(r"open (\S+) in a browser and confirm the code (\S+)", prompt)
        assert match, prompt
        assert "user_code=" in match[1] and match[1].startswith(stack.issuer)
        confirm_in_browser(page, stack, match[1])
        rest = login.stderr.read()
        assert login.wait(timeout=60) == 0, rest
    finally:
        login.kill()
    assert "no OS keyring here" in rest and "mode 0600" in rest
    kept = Path(laptop["XDG_CONFIG_HOME"]) / "hubtokens" / "refresh-token"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    first_refresh_token = kept.read_text()

    got = hubtokens(laptop, "get", "fruit-api", "fruits:read")
    assert got.returncode == 0, got.stderr
    token = got.stdout.strip()
    claims = unverified_claims(token)
    assert claims["aud"] == "fruit-api" and claims["azp"] == "hubtokens-laptop"
    assert claims["scope"].split() == ["fruits:read"]  # narrowed to what was asked
    assert "preferred_username" not in claims and "realm_access" not in claims
    fruits = httpx.get(
        f"{stack.public_url}/fruit-api/fruits/usual",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert fruits.status_code == 200 and "apple" in fruits.json()["fruits"]
    # Keycloak rotates refresh tokens: the new one was kept, the first is spent.
    assert kept.read_text() != first_refresh_token

    # Scopes the reader lacks the role of, asked for at login or not: refused as in a hub.
    for scope in ("fruits:write", "fruits:exotic"):
        refused = hubtokens(laptop, "get", "fruit-api", scope)
        assert refused.returncode == EXIT_STATUS["scope_not_allowed"], refused.stderr
        assert refused.stderr.startswith("hubtokens: scope_not_allowed: ") and scope in (
            refused.stderr
        )
        assert not refused.stdout

    # The Python API, the same way as in a notebook.
    in_python = subprocess.run(
        [
            sys.executable,
            "-c",
            RESOLVE + "import hubtokens; print(hubtokens.get('fruit-api', 'fruits:read'))",
        ],
        env=laptop,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert in_python.returncode == 0, in_python.stderr
    assert "<AccessToken audience='fruit-api' scope='fruits:read'" in in_python.stdout
    assert token not in in_python.stdout

    last_refresh_token = kept.read_text()
    out = hubtokens(laptop, "logout")
    assert out.returncode == 0 and "revoked" in out.stderr
    assert not kept.exists()
    # Revoked at Keycloak, not only forgotten here.
    revoked = httpx.post(
        stack.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": "hubtokens-laptop",
            "refresh_token": last_refresh_token,
        },
        timeout=10,
    )
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"
    after = hubtokens(laptop, "get", "fruit-api", "fruits:read")
    assert after.returncode == EXIT_STATUS["not_in_jupyterhub"]
    assert "hubtokens login" in after.stderr
