"""How tests find the running stack: its URLs and the secrets `make up` generated."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dockerspawner import DockerSpawner

from stackconf import secrets as secrets_file
from stackconf import settings as conf
from stackconf.hosts import server_url

REPO = conf.REPO


@dataclass(frozen=True)
class Stack:
    public_url: str
    keycloak_url: str  # public: the issuer's base
    keycloak_admin_url: str  # the admin API (native: loopback; not routed publicly)
    realm: str
    secrets: dict[str, str] = field(repr=False)  # never printed in test reports
    users_dir: Path | None
    runtime: str = "native"
    user_subdomains: bool = True

    def server_url(self, user: str, hub: str = "") -> str:
        """Where ``user``'s default server answers: on a host of its own with subdomains
        (``http://reader.localhost:8000/user/reader``), under the hub's origin otherwise."""
        return server_url(self.public_url, user, hub, self.user_subdomains)

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def password(self, user: str) -> str:
        return self.secrets[f"DEMO_PASSWORD_{user.upper()}"]

    def totp_secret(self, user: str) -> str | None:
        """The demo user's TOTP key as an authenticator app takes it, if the user has one
        (hub admins must give a one-time code)."""
        value = self.secrets.get(f"DEMO_TOTP_{user.upper()}")
        return secrets_file.totp_app_key(value) if value else None

    def user_file(self, user: str, name: str) -> Path:
        """A file in a user's home: a folder (native) or the user's volume (compose)."""
        if self.runtime == "compose":
            volume = conf.get("USER_VOLUME_NAME").format(username=DockerSpawner._escape(user))
            inspect = subprocess.run(
                ["docker", "volume", "inspect", volume],
                capture_output=True,
                text=True,
                check=True,
            )
            return Path(json.loads(inspect.stdout)[0]["Mountpoint"]) / name
        assert self.users_dir is not None
        return self.users_dir / user / name


def running_stack() -> Stack:
    """The stack `make up` started; fails with the fix when it is not running."""
    shared = conf.StackSettings.from_env()
    secrets_path = shared.secrets_file
    if not secrets_path.exists():
        raise RuntimeError(f"{secrets_path} is missing: start the stack with `make up` first.")
    public_url = shared.public_url
    try:
        httpx.get(f"{public_url}/hub/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        raise RuntimeError(
            f"the hub does not answer at {public_url}/hub/health ({e}): run `make up` first."
        ) from None
    marker = REPO / ".state" / "runtime"
    return Stack(
        runtime=marker.read_text().strip() if marker.exists() else "native",
        public_url=public_url,
        keycloak_url=shared.keycloak_public_url,
        keycloak_admin_url=conf.get("KEYCLOAK_ADMIN_URL").rstrip("/"),
        realm=shared.realm,
        secrets=secrets_file.read(secrets_path),
        users_dir=conf.get_path("NATIVE_STATE_DIR") / "hub" / "users",
        user_subdomains=shared.user_subdomains,
    )
