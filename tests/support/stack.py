"""How tests find the running stack: its URLs and the secrets `make up` generated."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from native_runtime import secrets_file
from native_runtime.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Stack:
    public_url: str
    keycloak_url: str
    realm: str
    secrets: dict[str, str] = field(repr=False)  # never printed in test reports
    users_dir: Path | None

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def password(self, user: str) -> str:
        return self.secrets[f"DEMO_PASSWORD_{user.upper()}"]


def running_stack() -> Stack:
    """The stack `make up` started; fails with the fix when it is not running."""
    settings = Settings.from_env(REPO)
    secrets_path = Path(os.environ.get("SECRETS_FILE", settings.secrets_file))
    if not secrets_path.exists():
        raise RuntimeError(f"{secrets_path} is missing: start the stack with `make up` first.")
    public_url = settings.public_url
    try:
        httpx.get(f"{public_url}/hub/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        raise RuntimeError(
            f"the hub does not answer at {public_url}/hub/health ({e}): run `make up` first."
        ) from None
    return Stack(
        public_url=public_url,
        keycloak_url=settings.keycloak_public_url,
        realm=settings.realm,
        secrets=secrets_file.read(secrets_path),
        users_dir=settings.state_dir / "hub" / "users",
    )
