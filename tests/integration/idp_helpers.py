"""Running idpctl against the live Keycloak from tests."""

from __future__ import annotations

from pathlib import Path

import httpx

from idpctl import cli
from idpctl.admin import KeycloakAdmin
from tests.support.login_flows import hub_api_token
from tests.support.stack import REPO, Stack

IDP = REPO / "idp"


def variables(stack: Stack) -> dict[str, str]:
    return {
        **stack.secrets,
        "HUB_PUBLIC_URL": stack.public_url,
        "KEYCLOAK_ADMIN_URL": stack.keycloak_admin_url,
    }


def idpctl(
    stack: Stack, command: str, idp_dir: Path = IDP, realms: tuple[str, ...] = ("demo",)
) -> tuple[int, str]:
    lines: list[str] = []
    code = cli.run(command, idp_dir, list(realms), variables(stack), out=lines.append)
    return code, "\n".join(lines)


def admin(stack: Stack) -> KeycloakAdmin:
    return KeycloakAdmin(
        stack.keycloak_admin_url,
        stack.secrets["KC_BOOTSTRAP_ADMIN_USERNAME"],
        stack.secrets["KC_BOOTSTRAP_ADMIN_PASSWORD"],
    )


def client_exists(stack: Stack, client_id: str, realm: str = "demo") -> bool:
    return bool(admin(stack).get(f"/{realm}/clients", clientId=client_id))


def mint(stack: Stack, user: str, audience: str, scope: str, hub: str = "") -> httpx.Response:
    """Mint through the hub's broker with a fresh JupyterHub token of ``user``."""
    token = hub_api_token(stack, user, ["custom:token-exchange!user"], hub=hub)
    return httpx.post(
        f"{stack.public_url}{hub}/hub/api/token-exchange",
        json={"audience": audience, "scope": scope},
        headers={"Authorization": f"token {token}"},
    )
