"""The native runtime's view of the settings: paths and loopback ports, from stackconf."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fruit_api.settings import Settings as FruitApiSettings
from stackconf import settings as conf
from stackconf.settings import StackSettings


def pinned_keycloak_version(repo: Path) -> str:
    """Keycloak's version is pinned once, in the keycloak image's FROM line; the native
    runtime downloads the same version from Maven Central."""
    dockerfile = repo / "images" / "keycloak" / "Dockerfile"
    match = re.search(r"^FROM quay\.io/keycloak/keycloak:(\S+)", dockerfile.read_text(), re.M)
    if not match:
        raise SystemExit(f"{dockerfile}: no 'FROM quay.io/keycloak/keycloak:<version>' line")
    return match.group(1)


@dataclass(frozen=True)
class Settings(StackSettings):
    """The shared settings plus the native runtime's paths and loopback ports."""

    state_dir: Path
    cache_dir: Path
    keycloak_version: str
    maven_repository_url: str
    public_bind: str
    public_port: int
    keycloak_port: int
    keycloak_management_port: int
    hub_api_port: int
    fruit_api_port: int
    traefik_api_port: int

    @classmethod
    def from_env(cls, repo: Path = conf.REPO) -> Settings:
        return super().from_env(
            repo,
            state_dir=conf.get_path("NATIVE_STATE_DIR", base=repo),
            cache_dir=conf.get_path("NATIVE_CACHE_DIR", base=repo),
            keycloak_version=conf.get("KEYCLOAK_VERSION") or pinned_keycloak_version(repo),
            maven_repository_url=conf.get("MAVEN_REPOSITORY_URL").rstrip("/"),
            public_bind=conf.get("PUBLIC_BIND"),
            public_port=conf.get_int("PUBLIC_PORT"),
            keycloak_port=conf.get_int("KEYCLOAK_HTTP_PORT"),
            keycloak_management_port=conf.get_int("KEYCLOAK_MANAGEMENT_PORT"),
            hub_api_port=conf.get_int("HUB_API_PORT"),
            fruit_api_port=FruitApiSettings.from_env().port,
            traefik_api_port=conf.get_int("TRAEFIK_API_PORT"),
        )

    @property
    def keycloak_internal_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}/auth"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"
