"""The deployment the Ansible playbooks made (playbooks/tests/run.sh): where it answers and its
secrets file, from DEPLOY_URL (the hub), DEPLOY_KEYCLOAK_URL (Keycloak, on a host of its own;
default: the role's, https://auth.<the hub's host>[:port]/auth), DEPLOY_USER_SUBDOMAINS (users'
servers at <user>.<the hub's host>; default true), DEPLOY_HTTP_URL, DEPLOY_ENV_FILE and
DEPLOY_CA_FILE (a self-signed certificate to trust)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from stackconf import secrets as secrets_file
from stackconf.hosts import server_url


@dataclass(frozen=True)
class Deployment:
    public_url: str  # https://host:port
    http_url: str  # http://host:port (redirects to public_url)
    secrets: dict[str, str] = field(repr=False)  # never printed in test reports
    keycloak_url: str = ""  # https://auth.host:port/auth: Keycloak's own origin
    ca_file: str = ""  # the self-signed certificate to trust (DEPLOY_CA_FILE), else system CAs
    user_subdomains: bool = True  # users' servers at https://<user>.host:port/user/<user>/

    def server_url(self, user: str) -> str:
        """Where ``user``'s default server answers (on its own host with user subdomains)."""
        return server_url(self.public_url, user, subdomains=self.user_subdomains)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def password(self, user: str) -> str:
        return self.secrets[f"DEMO_PASSWORD_{user.upper()}"]


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    missing = [n for n in ("DEPLOY_URL", "DEPLOY_ENV_FILE") if not os.environ.get(n)]
    if missing:
        pytest.fail(
            f"set {', '.join(missing)} (playbooks/tests/run.sh does): the deployed URL and "
            "the deploy directory's secrets.env",
            pytrace=False,
        )
    url = os.environ["DEPLOY_URL"].rstrip("/")
    hub = urlsplit(url)
    port = f":{hub.port}" if hub.port else ""
    return Deployment(
        public_url=url,
        http_url=os.environ.get("DEPLOY_HTTP_URL", "").rstrip("/"),
        secrets=secrets_file.read(Path(os.environ["DEPLOY_ENV_FILE"])),
        keycloak_url=(
            os.environ.get("DEPLOY_KEYCLOAK_URL")
            or f"{hub.scheme}://auth.{hub.hostname}{port}/auth"
        ).rstrip("/"),
        ca_file=os.environ.get("DEPLOY_CA_FILE", ""),
        user_subdomains=os.environ.get("DEPLOY_USER_SUBDOMAINS", "true").lower() == "true",
    )


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # The test deployment serves a self-signed certificate for localhost and its subdomains.
    return {**browser_context_args, "ignore_https_errors": True}
