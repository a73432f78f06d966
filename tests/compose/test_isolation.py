"""A user's container holds no secret and cannot reach Postgres or Keycloak's admin side."""

from __future__ import annotations

import json

from tests.compose.conftest import docker
from tests.support.stack import Stack

SECRET_NAMES = (
    "JUPYTERHUB_CLIENT_SECRET",
    "JUPYTERHUB_CRYPT_KEY",
    "JPY_COOKIE_SECRET",
    "TRAEFIK_API_PASSWORD",
    "KC_BOOTSTRAP_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "KEYCLOAK_DB_PASSWORD",
    "HUB_DB_PASSWORD",
    "RESEARCH_HUB_CLIENT_SECRET",
)


def test_container_environment_holds_no_secret(compose_stack: Stack, reader_container: str):
    inspect = json.loads(docker("inspect", reader_container).stdout)[0]
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert "JUPYTERHUB_API_TOKEN" in env  # the one credential a server gets
    values = set(env.values())
    leaked = [name for name in SECRET_NAMES if compose_stack.secrets[name] in values]
    assert leaked == []
    assert not [k for k in env if any(w in k for w in ("SECRET", "CRYPT", "REFRESH", "PASSWORD"))]


def test_container_filesystem_holds_no_secret(compose_stack: Stack, reader_container: str):
    patterns = "\n".join(compose_stack.secrets[name] for name in SECRET_NAMES) + "\n"
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
    probe = (
        "import json, socket, urllib.request, urllib.error\n"
        "out = {}\n"
        "for host, port in [('postgres', 5432), ('keycloak', 8080), ('keycloak', 9000)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close(); out[f'{host}:{port}'] = 'open'\n"
        "    except OSError as e:\n"
        "        out[f'{host}:{port}'] = type(e).__name__\n"
        "for path in ['/auth/admin/master/console/', '/auth/admin/realms/demo/users']:\n"
        "    try:\n"
        "        out[path] = urllib.request.urlopen('http://traefik:8000' + path, timeout=5).status\n"
        "    except urllib.error.HTTPError as e:\n"
        "        out[path] = e.code\n"
        "out['hub'] = urllib.request.urlopen('http://hub:8081/hub/api/', timeout=5).status\n"
        "print(json.dumps(out))\n"
    )
    result = docker("exec", reader_container, "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["hub"] == 200  # the probe itself works: the hub is reachable
    for target in ("postgres:5432", "keycloak:8080", "keycloak:9000"):
        assert out[target] != "open", out
    assert out["/auth/admin/master/console/"] == 404
    assert out["/auth/admin/realms/demo/users"] == 404


def test_user_container_has_resource_limits(reader_container: str) -> None:
    host_config = json.loads(docker("inspect", reader_container).stdout)[0]["HostConfig"]
    assert host_config["Memory"] > 0
    assert host_config["NanoCpus"] > 0 or host_config["CpuQuota"] > 0
