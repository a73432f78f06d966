"""A user's container holds no secret and cannot reach Postgres or Keycloak's admin side."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from stackconf.secrets import SECRET_NAMES
from tests.compose.conftest import container_addresses, docker, probe
from tests.support.servers import request_in_container
from tests.support.stack import Stack

HUB = "jupyterhub-keycloak-hub-1"
# What a user's container must not reach, by the name the stack's own services use.
FORBIDDEN = {
    "postgres": ("jupyterhub-keycloak-postgres-1", [5432]),
    "keycloak": ("jupyterhub-keycloak-keycloak-1", [8080, 9000]),
}


def secret_values(stack: Stack) -> dict[str, str]:
    """Every generated secret (stackconf's list: all but the admin's name), by name."""
    values = {name: stack.secrets.get(name, "") for name in SECRET_NAMES}
    missing = [name for name, value in values.items() if not value]
    assert not missing, f"secrets missing from the secrets file: {missing}"
    return values


def environments(container: str) -> dict[str, dict[str, str]]:
    """The container's configured environment and the one its pid 1 runs with (the
    entrypoint may add to it)."""
    inspect = json.loads(docker("inspect", container).stdout)[0]
    raw = docker("exec", container, "cat", "/proc/1/environ").stdout
    pid1 = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
    assert pid1, f"{container}: cannot read the environment of pid 1"
    return {
        "config": dict(item.split("=", 1) for item in inspect["Config"]["Env"]),
        "pid 1": pid1,
    }


def test_container_environment_holds_no_secret(compose_stack: Stack, reader_container: str):
    envs = environments(reader_container)
    assert "JUPYTERHUB_API_TOKEN" in envs["config"]  # the one credential a server gets
    # A secret must not appear anywhere in a value, not only as a whole value
    # (e.g. inside a URL such as postgresql://jupyterhub:SECRET@postgres/jupyterhub).
    leaked = [
        f"{name} in {key} ({which})"
        for name, secret in secret_values(compose_stack).items()
        for which, env in envs.items()
        for key, value in env.items()
        if secret in value
    ]
    assert leaked == []
    for env in envs.values():
        assert not [
            k for k in env if any(w in k for w in ("SECRET", "CRYPT", "REFRESH", "PASSWORD"))
        ]


def test_container_filesystem_holds_no_secret(compose_stack: Stack, reader_container: str):
    patterns = "\n".join(secret_values(compose_stack).values()) + "\n"
    found = docker(
        "exec",
        "-i",
        reader_container,
        "grep",
        "-rlsF",
        "-f",
        "-",
        "/home",
        "/etc",
        "/opt",
        "/tmp",
        "/usr/local/etc",
        "/srv",
        stdin=patterns,
    )
    # grep -l prints every file with a match; 1 = no match, 2 = some unreadable file skipped
    assert found.stdout == "", f"secrets found in: {found.stdout}"
    assert found.returncode in (1, 2), found.stderr


def test_postgres_and_keycloak_admin_are_unreachable(reader_container: str) -> None:
    """A failed DNS lookup proves nothing about reachability. So the addresses come from where
    the names do resolve: the hub's container (which uses both services), where the lookup must
    succeed and a connection must open (the services listen there), plus every address Docker
    gave the containers. From the user's container each of these must then refuse, time out or
    be unreachable; if the user's container can resolve a name, those addresses are tried too.
    """
    targets: list[tuple[str, int]] = []
    from_hub = probe(HUB, list(FORBIDDEN), [])["resolved"]
    for name, (container, ports) in FORBIDDEN.items():
        resolved = from_hub[name]
        assert isinstance(resolved, list) and resolved, f"{HUB} cannot resolve {name}: {resolved}"
        addresses = sorted({*resolved, *container_addresses(container)})
        targets += [(address, port) for address in addresses for port in ports]
    control = probe(HUB, [], targets)["connect"]
    assert set(control.values()) == {"open"}, f"not listening, nothing to prove: {control}"

    from_user = probe(reader_container, list(FORBIDDEN), [])["resolved"]
    for name, (_, ports) in FORBIDDEN.items():
        if isinstance(from_user[name], list):  # resolvable there: try those addresses too
            targets += [(address, port) for address in from_user[name] for port in ports]
    outcomes = probe(reader_container, [], sorted(set(targets)))["connect"]
    assert len(outcomes) >= 5, outcomes  # postgres once, keycloak on two networks, two ports
    blocked = {"timeout", "refused", "unreachable", "no route"}
    assert {t: o for t, o in outcomes.items() if o not in blocked} == {}, outcomes


def test_keycloak_admin_is_not_routed_and_the_hub_is(
    compose_stack: Stack, reader_container: str
) -> None:
    """From a user's container, through Traefik, on Keycloak's host name or none: Keycloak's
    admin side answers nothing (404) or the hub's catch-all sends the browser to the hub."""
    keycloak_host = urlsplit(compose_stack.keycloak_url).netloc
    for host in (keycloak_host, "traefik:8000"):
        for path in ("/auth/admin/master/console/", "/auth/admin/realms/demo/users"):
            answer = request_in_container(
                reader_container, "GET", f"http://traefik:8000{path}", headers={"Host": host}
            )
            location = answer.headers.get("location", "")
            assert answer.status_code == 404 or (
                answer.status_code == 302 and "/hub/" in location
            ), (host, path, answer.status_code, location)
    hub = request_in_container(reader_container, "GET", "http://hub:8081/hub/api/")
    assert hub.status_code == 200  # the probe itself works: the hub is reachable


def test_user_container_has_resource_limits(reader_container: str) -> None:
    host_config = json.loads(docker("inspect", reader_container).stdout)[0]["HostConfig"]
    assert host_config["Memory"] > 0
    assert host_config["NanoCpus"] > 0 or host_config["CpuQuota"] > 0
