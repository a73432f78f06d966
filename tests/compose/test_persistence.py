"""`make down` then `make up` keeps Keycloak users, hub state and fruits (named volumes)."""

from __future__ import annotations

import subprocess
import uuid

import httpx

from tests.integration.test_token_exchange import exchange
from tests.support.login_flows import hub_session, keycloak_tokens
from tests.support.stack import REPO, Stack


def curator_token(stack: Stack) -> str:
    subject = keycloak_tokens(stack, "curator")["access_token"]
    response = exchange(stack, subject, "fruits:read fruits:write fruits:exotic")
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_data_survives_down_and_up(compose_stack: Stack) -> None:
    fruit = f"persimmon{uuid.uuid4().hex[:4]}"
    api = f"{compose_stack.public_url}/fruit-api/fruits/exotic"
    headers = {"Authorization": f"Bearer {curator_token(compose_stack)}"}
    assert httpx.post(api, json={"name": fruit}, headers=headers).status_code == 201
    for target in ("down", "up"):
        subprocess.run(
            ["make", target, "RUNTIME=compose"], cwd=REPO, check=True, capture_output=True
        )
    headers = {"Authorization": f"Bearer {curator_token(compose_stack)}"}  # users survived
    assert fruit in httpx.get(api, headers=headers).json()["fruits"]  # fruits survived
    browser = hub_session(compose_stack, "reader")  # the hub remembers the user
    me = browser.request(
        "GET",
        f"{compose_stack.public_url}/hub/api/user",
        headers={"X-XSRFToken": browser.cookies["_xsrf"]},
    )
    assert me.json()["name"] == "reader"
    assert httpx.delete(f"{api}/{fruit}", headers=headers).status_code == 204
