"""The second example realm, switched on: its own hub at /research/ mints its own API's tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from native_runtime import render
from native_runtime.settings import Settings
from tests.integration.idp_helpers import admin, forget, idpctl, mint
from tests.support.stack import REPO, Stack
from tokencontract.claims import unverified_claims

HUB = "/research"


@pytest.fixture(scope="module")
def research_hub(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Apply the research realm and start a second hub for it behind the same Traefik."""
    code, output = idpctl(stack, "apply", realms=("demo", "research"))
    assert code == 0, output
    settings = Settings.from_env(REPO)
    state = tmp_path_factory.mktemp("research-hub")
    routes = settings.state_dir / "traefik" / "dynamic" / "research-hub.toml"
    env = {
        **render.program_env(settings, stack.secrets, Path())["jupyterhub"],
        "KEYCLOAK_REALM": "research",
        "HUB_BASE_URL": HUB,
        "HUB_BIND_URL": "http://127.0.0.1:8082",
        "HUB_STATE_DIR": str(state),
        "JUPYTERHUB_CLIENT_SECRET": stack.secrets["RESEARCH_HUB_CLIENT_SECRET"],
        "TOKEN_EXCHANGE_CLIENT_SECRET": stack.secrets["RESEARCH_EXCHANGE_CLIENT_SECRET"],
        "JOB_GRANTS_CLIENT_SECRET": "",  # the research realm has no job-grants client
        "TRAEFIK_DYNAMIC_CONFIG_FILE": str(routes),
        "TRAEFIK_SETUP_API_ROUTER": "false",
        # Refresh when under 298 s of the 300 s are left: a login's token refreshes after 2 s.
        "TOKEN_REFRESH_MARGIN": "298",
    }
    log = (state / "hub.log").open("w")
    hub = subprocess.Popen(  # the same program and config the runtime starts, second instance
        [sys.executable, "-m", "jupyterhub", "-f", str(REPO / "hub" / "jupyterhub_config.py")],
        cwd=state,
        # The venv's scripts (jupyterhub-singleuser, which the hub spawns) come first.
        env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{stack.public_url}{HUB}/hub/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert hub.poll() is None, (state / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the research hub did not answer:\n" + (state / "hub.log").read_text())
        yield HUB
    finally:
        # A hub stops its service (the idle culler) with SIGINT, then SIGTERM after 10 s and
        # SIGKILL after 5 more: a process started with SIGINT ignored (by a shell, in the
        # background; .ci/run restores it) took 32-36 s. Wait for the whole escalation, so
        # that the realm is not deleted under a running hub.
        hub.terminate()
        try:
            hub.wait(timeout=90)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
            raise
        finally:
            routes.unlink(missing_ok=True)
            admin(stack).delete("/research")  # the realm is off by default


def test_research_user_mints_a_token_for_the_research_api(stack: Stack, research_hub: str):
    response = mint(stack, "researcher", "research-api", "samples:read", hub=research_hub)
    assert response.status_code == 200, response.text
    claims = unverified_claims(response.json()["access_token"])
    assert claims["iss"] == f"{stack.keycloak_url}/realms/research"
    assert claims["aud"] in ("research-api", ["research-api"])
    assert claims["azp"] == "jupyterhub-exchange" and "preferred_username" not in claims
    (account,) = admin(stack).get("/research/users", username="researcher", exact="true")
    assert claims["sub"] == account["id"]  # the Keycloak account, by its id


def test_research_hub_offers_only_its_realms_apis(stack: Stack, research_hub: str) -> None:
    response = mint(stack, "researcher", "fruit-api", "fruits:read", hub=research_hub)
    assert response.status_code == 403
    assert response.json()["error"] == "audience_not_allowed"


def test_demo_hub_is_unaffected(stack: Stack, research_hub: str) -> None:
    assert mint(stack, "reader", "fruit-api", "fruits:read").status_code == 200


def test_one_refresh_for_many_concurrent_mints(stack: Stack, research_hub: str) -> None:
    """The research hub refreshes a token with under 298 s left (TOKEN_REFRESH_MARGIN): three
    seconds after login, eight concurrent mints cause exactly one refresh; with rotating
    refresh tokens, so does the next round, and no refresh fails."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.login_flows import hub_session
    from tests.support.servers import start_server

    browser = hub_session(stack, "researcher", research_hub)  # a fresh login: a new session
    start_server(stack, "researcher", research_hub, browser)
    forget(stack, "researcher", hub=research_hub)  # no token cached by an earlier test
    kc = admin(stack)
    before = {e["time"] for e in kc.get("/research/events", type="REFRESH_TOKEN", max=200)}
    time.sleep(3)  # the login's access token now has under 298 s left

    def one(_: int) -> int:
        return mint(stack, "researcher", "research-api", "samples:read", research_hub).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(8))) == [200] * 8
    events = kc.get("/research/events", type="REFRESH_TOKEN", max=200)
    new = [e for e in events if e["time"] not in before]
    assert len(new) == 1, new

    # Refresh tokens rotate (revokeRefreshToken): a reused one would be refused and end the
    # session. Another round, after the next refresh is due, still mints: the rotated token
    # was saved and used, and Keycloak recorded no refresh error.
    forget(stack, "researcher", hub=research_hub)
    time.sleep(3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(8))) == [200] * 8
    events = kc.get("/research/events", type="REFRESH_TOKEN", max=200)
    assert len([e for e in events if e["time"] not in before]) == 2
    errors = kc.get("/research/events", type="REFRESH_TOKEN_ERROR", max=200)
    assert not [e for e in errors if e["time"] >= min(e["time"] for e in new)], errors
