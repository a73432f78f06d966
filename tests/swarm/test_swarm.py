"""The stack across three Docker engines: user servers on different workers, then a worker
drained and a Keycloak replica killed while login and minting go on. The tests run in order
(one swarm): each drill starts from what the previous one left."""

from __future__ import annotations

import time

import pytest

from tests.support.login_flows import hub_session
from tests.support.servers import start_server
from tests.swarm.conftest import FIGURES, USERS, Swarm, docker, ok, servers_reach, until


@pytest.fixture(scope="module")
def servers(swarm: Swarm) -> dict[str, str]:
    """Both users logged in with their servers started; user -> the node it runs on.

    Swarm spreads tasks by count, and breaks ties as it likes: when a Keycloak replica runs
    on one worker, the second server may join the first on the other. So while the second
    server is placed, the first one's worker is paused (`docker node update --availability
    pause`: its tasks keep running, no new task goes there), as an admin spreads load."""
    placed: dict[str, str] = {}
    for user in USERS:
        paused = list(placed.values())
        for node in paused:
            docker("node", "update", "--availability", "pause", node)
        try:
            start_server(swarm.stack, user, browser=hub_session(swarm.stack, user))
        finally:
            for node in paused:
                docker("node", "update", "--availability", "active", node)
        tasks = swarm.running(swarm.user_service(user))
        assert len(tasks) == 1, f"{user}'s server: {len(tasks)} running tasks"
        placed[user] = tasks[0].node
    return placed


def test_servers_run_on_different_workers_and_call_the_fruit_api(
    swarm: Swarm, servers: dict[str, str]
) -> None:
    for user, node in servers.items():
        FIGURES.append((f"{user}'s server ran on", node))
    assert swarm.manager not in servers.values(), f"a user server on the manager: {servers}"
    assert len(set(servers.values())) == len(USERS), f"servers share a node: {servers}"
    for user in USERS:
        outcome = swarm.forget_mint_read(user)
        assert ok(outcome), f"{user}: {outcome}"
    keycloak = {task.node for task in swarm.running(f"{swarm.project}_keycloak")}
    FIGURES.append(("Keycloak replicas ran on", ", ".join(sorted(keycloak))))
    assert len(keycloak) == 2, f"Keycloak replicas: {keycloak}"


def test_servers_on_different_workers_cannot_reach_each_other(
    swarm: Swarm, servers: dict[str, str]
) -> None:
    """Across the overlay network's VXLAN tunnel (test_swarm_isolation.py: on one worker)."""
    where, reached, allowed = servers_reach(swarm)
    assert where == servers, f"the servers moved: {where}, were {servers}"
    assert not reached, f"reader's server reached curator's on another worker: {reached}"
    assert set(allowed.values()) == {"open"}, allowed


def test_login_and_minting_go_on_while_a_worker_is_drained(
    swarm: Swarm, servers: dict[str, str]
) -> None:
    drained = servers["reader"]
    started = time.monotonic()
    docker("node", "update", "--availability", "drain", drained)
    try:
        moved = until(
            lambda: (
                [t.node for t in swarm.running(swarm.user_service("reader"))] not in ([], [drained])
            ),
            120,
            "reader's server running on another node",
        )
        served = until(
            lambda: ok(swarm.forget_mint_read("reader")), 120, "reader minting from its new node"
        )
        node = swarm.running(swarm.user_service("reader"))[0].node
        FIGURES.append((f"drain {drained}: reader's server moved to", node))
        FIGURES.append((f"drain {drained}: server running again after", f"{moved:.1f} s"))
        FIGURES.append(
            (f"drain {drained}: first mint and read after", f"{time.monotonic() - started:.1f} s")
        )
        assert node != drained
        del served
        # Logging in (Keycloak, the hub) and the other user's server go on meanwhile.
        hub_session(swarm.stack, "curator")
        assert ok(swarm.forget_mint_read("curator"))
    finally:
        docker("node", "update", "--availability", "active", drained)


def test_login_and_minting_go_on_when_a_keycloak_replica_is_killed(swarm: Swarm) -> None:
    service = f"{swarm.project}_keycloak"
    until(lambda: len(swarm.running(service)) == 2, 240, "two Keycloak replicas running")
    victim = swarm.running(service)[0]
    docker("kill", victim.container, host=swarm.engine(victim.node))
    killed = time.monotonic()
    # The users' Keycloak sessions, made before the kill, still refresh (the mint refreshes
    # the login first): the surviving replica has them.
    failures = []
    for user in USERS:
        outcome = swarm.forget_mint_read(user)
        if not ok(outcome):
            failures.append((user, outcome))
    first = time.monotonic() - killed
    # A new login through the surviving replica.
    hub_session(swarm.stack, "reader")
    login = time.monotonic() - killed
    back = until(lambda: len(swarm.running(service)) == 2, 240, "the killed replica replaced")
    FIGURES.append(("kill a Keycloak replica on", victim.node))
    FIGURES.append(("  both users' mints (their sessions refreshed) done after", f"{first:.1f} s"))
    FIGURES.append(("  a new login done after", f"{login:.1f} s"))
    FIGURES.append(("  failed mints right after the kill", str(len(failures))))
    FIGURES.append(("  Swarm's replacement replica running after", f"{back:.1f} s"))
    assert not failures, f"mints failed after the kill: {failures}"
