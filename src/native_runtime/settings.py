"""Where the native runtime keeps things and which ports it uses (env vars, with defaults)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def pinned_keycloak_version(repo: Path) -> str:
    """Keycloak's version is pinned once, in the keycloak image's FROM line; the native
    runtime downloads the same version from Maven Central."""
    dockerfile = repo / "images" / "keycloak" / "Dockerfile"
    match = re.search(r"^FROM quay\.io/keycloak/keycloak:(\S+)", dockerfile.read_text(), re.M)
    if not match:
        raise SystemExit(f"{dockerfile}: no 'FROM quay.io/keycloak/keycloak:<version>' line")
    return match.group(1)


@dataclass(frozen=True)
class Settings:
    repo: Path
    state_dir: Path
    cache_dir: Path
    keycloak_version: str
    maven_repository_url: str
    public_port: int
    keycloak_port: int
    keycloak_management_port: int
    hub_api_port: int
    fruit_api_port: int
    traefik_api_port: int
    realm: str

    @classmethod
    def from_env(cls, repo: Path | None = None) -> Settings:
        env = os.environ.get
        repo = (repo or Path.cwd()).resolve()
        return cls(
            repo=repo,
            state_dir=Path(env("NATIVE_STATE_DIR", str(repo / ".state" / "native"))).resolve(),
            cache_dir=Path(
                env("NATIVE_CACHE_DIR", str(Path.home() / ".cache" / "jupyterhub-keycloak-tokens"))
            ),
            keycloak_version=env("KEYCLOAK_VERSION") or pinned_keycloak_version(repo),
            maven_repository_url=env(
                "MAVEN_REPOSITORY_URL", "https://repo.maven.apache.org/maven2"
            ).rstrip("/"),
            public_port=int(env("PUBLIC_PORT", "8000")),
            keycloak_port=int(env("KEYCLOAK_HTTP_PORT", "8080")),
            keycloak_management_port=int(env("KEYCLOAK_MANAGEMENT_PORT", "9000")),
            hub_api_port=int(env("HUB_API_PORT", "8081")),
            fruit_api_port=int(env("FRUIT_API_PORT", "8090")),
            traefik_api_port=int(env("TRAEFIK_API_PORT", "8099")),
            realm=env("KEYCLOAK_REALM", "demo"),
        )

    @property
    def public_url(self) -> str:
        return os.environ.get("HUB_PUBLIC_URL", f"http://localhost:{self.public_port}")

    @property
    def keycloak_public_url(self) -> str:
        return f"{self.public_url}/auth"

    @property
    def keycloak_internal_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}/auth"

    @property
    def secrets_file(self) -> Path:
        return self.state_dir.parent / "secrets.env"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"
