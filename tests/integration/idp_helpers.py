"""Running idpctl against the live Keycloak from tests."""

from __future__ import annotations

from pathlib import Path

import httpx

from idpctl import cli
from idpctl.admin import KeycloakAdmin
from stackconf import settings as conf
from tests.support.servers import call_as_server, mint_as_server
from tests.support.stack import REPO, Stack

IDP = REPO / "idp"


def variables(stack: Stack) -> dict[str, str]:
    return {
        **stack.secrets,
        "HUB_PUBLIC_URL": stack.public_url,
        "HUB_INTERNAL_URL": conf.get("HUB_INTERNAL_URL"),
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
    """Mint through the hub's broker as ``user``'s notebook server does (started if needed)."""
    return mint_as_server(stack, user, audience, scope, hub=hub)


def forget(stack: Stack, user: str, hub: str = "") -> None:
    """Drop the tokens the broker cached for ``user``'s server (its next mint asks Keycloak)."""
    response = call_as_server(stack, user, "DELETE", hub=hub)
    assert response.status_code == 200, response.text
