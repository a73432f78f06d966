"""Least rights of containers: a user's server has no Linux capability, cannot gain any
through setuid binaries, runs as a normal user, and every service has a memory limit."""

from __future__ import annotations

import json

import pytest

from tests.compose.conftest import docker

SERVICES = ("traefik", "postgres", "keycloak", "fruit-api", "hub", "docker-api", "users-firewall")
#: Services that need no Linux capability (Postgres's entrypoint switches users; Traefik
#: reads the hub's route file, which the unprivileged hub writes with mode 0600).
NO_CAPABILITIES = ("keycloak", "fruit-api", "hub", "docker-api")
#: CAP_DAC_READ_SEARCH: read any file (its bit in /proc/<pid>/status's capability masks).
DAC_READ_SEARCH = 1 << 2
#: CAP_NET_ADMIN: change the network configuration (the users firewall's rules).
NET_ADMIN = 1 << 12


def host_config(container: str) -> dict:
    result = docker("inspect", container)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]["HostConfig"]


def proc_status(container: str) -> dict[str, str]:
    """/proc/1/status of the container's main process: what the kernel enforces."""
    result = docker("exec", container, "cat", "/proc/1/status")
    assert result.returncode == 0, result.stderr
    return dict(line.split(":\t", 1) for line in result.stdout.splitlines() if ":\t" in line)


def test_user_server_holds_no_capability(reader_container: str) -> None:
    status = proc_status(reader_container)
    assert int(status["CapEff"], 16) == 0, status["CapEff"]
    assert int(status["CapBnd"], 16) == 0, "capabilities could be regained from the bounding set"
    assert "ALL" in (host_config(reader_container)["CapDrop"] or [])


def test_user_server_cannot_gain_privileges(reader_container: str) -> None:
    assert proc_status(reader_container)["NoNewPrivs"].strip() == "1"
    # An attempt that needs a capability fails: changing a file's owner to root.
    attempt = docker("exec", reader_container, "sh", "-c", "touch /tmp/x && chown 0:0 /tmp/x")
    assert attempt.returncode != 0
    assert "not permitted" in attempt.stderr.lower()


def test_user_server_runs_as_a_normal_user(reader_container: str) -> None:
    uid = docker("exec", reader_container, "id", "-u").stdout.strip()
    assert uid and uid != "0"


def test_user_server_has_a_process_limit(reader_container: str) -> None:
    assert (host_config(reader_container)["PidsLimit"] or 0) > 0


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_memory_limit_and_no_privilege_gain(compose_stack, service) -> None:
    config = host_config(f"jupyterhub-keycloak-{service}-1")
    assert config["Memory"] > 0
    assert "no-new-privileges:true" in (config["SecurityOpt"] or [])
    assert proc_status(f"jupyterhub-keycloak-{service}-1")["NoNewPrivs"].strip() == "1"


@pytest.mark.parametrize("service", NO_CAPABILITIES)
def test_services_that_need_no_capability_hold_none(compose_stack, service) -> None:
    assert int(proc_status(f"jupyterhub-keycloak-{service}-1")["CapEff"], 16) == 0


def test_traefik_holds_only_the_right_to_read_the_hubs_routes(compose_stack) -> None:
    status = proc_status("jupyterhub-keycloak-traefik-1")
    assert int(status["CapEff"], 16) == DAC_READ_SEARCH
    assert int(status["CapBnd"], 16) == DAC_READ_SEARCH


def test_the_users_firewall_holds_only_the_right_to_change_the_firewall(compose_stack) -> None:
    status = proc_status("jupyterhub-keycloak-users-firewall-1")
    assert int(status["CapEff"], 16) == NET_ADMIN
    assert int(status["CapBnd"], 16) == NET_ADMIN
