"""A session ended in Keycloak ends in the hub at once (review item 7): an admin signs the
user out in Keycloak (as from its admin console), Keycloak tells the hub over the back channel,
and the user's server token mints nothing more while the hub stops the server. A forged
logout token is refused: tests/integration/test_backchannel_logout.py and the public
entrypoint refuses the path: test_broker_callers.py."""

from __future__ import annotations

import json
import time

import pytest

from tests.compose.conftest import docker
from tests.support.keycloak_admin import StackAdmin
from tests.support.servers import (
    ServerNotRunning,
    call_as_server,
    call_in_container,
    container_of,
    start_server,
)
from tests.support.stack import Stack

USER = "curator"
BODY = json.dumps({"audience": "fruit-api", "scope": "fruits:read"}).encode()


@pytest.fixture
def admin(compose_stack: Stack):
    admin = StackAdmin(compose_stack)
    yield admin
    admin.close()


def test_an_admin_sign_out_in_keycloak_stops_minting_at_once(compose_stack, admin) -> None:
    start_server(compose_stack, USER)
    assert call_as_server(compose_stack, USER, "POST", content=BODY).status_code == 200
    (user_id,) = admin.user_ids(compose_stack.realm, USER)
    started = time.monotonic()
    admin.sign_out(compose_stack.realm, user_id)
    # The hub revoked the user and stopped the server (HUB_STOP_SERVERS_ON_LOGOUT): the
    # container goes, and until it does, its token mints nothing.
    deadline = started + 20
    while True:
        running = docker("ps", "--filter", f"name={container_of(USER)}", "--format", "{{.Names}}")
        if not running.stdout.strip():
            break
        try:  # never restarted here (call_as_server would log in again)
            minted = call_in_container(container_of(USER), "POST", content=BODY)
        except ServerNotRunning:
            break
        assert minted.status_code != 200, "a mint succeeded after the session ended"
        assert time.monotonic() < deadline, "the hub did not stop the server within 20 s"
        time.sleep(0.5)
