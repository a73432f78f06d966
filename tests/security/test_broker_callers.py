"""A leaked hub API token mints nothing (review item 2): the broker answers only the token the
hub gave a running server, only from that server's own address, and never through Traefik's
public entrypoint. Each attack passes only when it fails; the control shows the same token
minting from where it belongs."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.compose.conftest import docker
from tests.support.login_flows import create_api_token, hub_session
from tests.support.servers import call_as_server, container_of, start_server
from tests.support.stack import Stack

BODY = json.dumps({"audience": "fruit-api", "scope": "fruits:read"}).encode()


def environment(container: str, name: str) -> str:
    result = docker("exec", container, "printenv", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def reader_server(compose_stack: Stack) -> dict[str, str]:
    """The reader's running server: its container, address and own hub token (as code in it
    would read them; an attacker who copied the token has exactly this)."""
    start_server(compose_stack, "reader")
    container = container_of("reader")
    inspect = json.loads(docker("inspect", container).stdout)[0]
    networks = inspect["NetworkSettings"]["Networks"]
    return {
        "container": container,
        "ip": next(iter(networks.values()))["IPAddress"],
        "token": environment(container, "JUPYTERHUB_API_TOKEN"),
    }


def is_the_brokers_answer(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/json")


def test_control_the_servers_token_mints_from_its_server(compose_stack, reader_server) -> None:
    response = call_as_server(compose_stack, "reader", "POST", content=BODY)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


@pytest.mark.parametrize(
    "path",
    [
        "/hub/api/token-exchange",
        "/hub/api/token-exchange/",
        "/hub/api/token-exchange?audience=fruit-api",
        "/hub//api/token-exchange",
        "/hub/api/./token-exchange",
        "/hub/api/token%2Dexchange",
        "/hub/api/Token-Exchange",
    ],
)
def test_the_broker_is_not_served_on_the_public_entrypoint(
    compose_stack, reader_server, path
) -> None:
    """Even the server's own token: Traefik refuses the broker's path from outside."""
    response = httpx.post(
        f"{compose_stack.public_url}{path}",
        content=BODY,
        headers={"Authorization": f"token {reader_server['token']}"},
    )
    assert response.status_code in (403, 404), (response.status_code, response.text[:200])
    assert "access_token" not in response.text
    if path == "/hub/api/token-exchange":
        assert not is_the_brokers_answer(response), "the request reached the hub"


def test_back_channel_logout_is_not_served_on_the_public_entrypoint(compose_stack) -> None:
    """Keycloak calls it on the hub's own address; from outside it is refused before the hub
    (which would refuse an unsigned token anyway)."""
    response = httpx.post(
        f"{compose_stack.public_url}/hub/backchannel-logout",
        data={"logout_token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    )
    assert response.status_code == 403
    assert not is_the_brokers_answer(response), "the request reached the hub"


def test_a_copied_server_token_mints_nothing_from_another_container(
    compose_stack, reader_server
) -> None:
    """The reader's server token, stolen and used from the curator's server on the same
    network, straight at the hub's API: refused by the address check."""
    response = call_as_server(
        compose_stack, "curator", "POST", content=BODY, token=reader_server["token"]
    )
    assert response.status_code == 403, response.text
    assert "from inside its server" in response.json()["message"]


def test_a_forged_forwarded_for_does_not_pass_the_address_check(
    compose_stack, reader_server
) -> None:
    forged = {"X-Forwarded-For": reader_server["ip"], "X-Real-Ip": reader_server["ip"]}
    response = call_as_server(
        compose_stack,
        "curator",
        "POST",
        content=BODY,
        token=reader_server["token"],
        headers=forged,
    )
    assert response.status_code == 403, response.text
    assert "from inside its server" in response.json()["message"]


def test_a_user_made_token_mints_nothing_even_from_the_users_server(
    compose_stack, reader_server
) -> None:
    browser = hub_session(compose_stack, "reader")
    token = create_api_token(
        compose_stack, browser, "reader", ["custom:token-exchange!user"], expires_in=600
    )
    response = call_as_server(compose_stack, "reader", "POST", content=BODY, token=token)
    assert response.status_code == 403, response.text
    assert "server's own token" in response.json()["message"]
